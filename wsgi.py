"""Entry point for WSGI servers: ``gunicorn wsgi:app``."""

from dashboard import create_app

app = create_app()
