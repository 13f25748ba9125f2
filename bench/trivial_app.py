"""The ceiling: the smallest Flask app, served with the same gunicorn settings as Tenantdesk.

Not a route in the product: ``gunicorn --chdir bench trivial_app:app``.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok():
    return "ok"
