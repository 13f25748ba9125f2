"""Branding and custom domain pages (owners), and the brand's public files: the logo and a
one-rule stylesheet for the primary colour. HTTP only: rules live in branding.py and
domains.py."""

from __future__ import annotations

import re
import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import text

from dashboard import navigation, tenancy
from dashboard.accounts.stepup import step_up
from dashboard.audit.web import request_actor
from dashboard.hosts import branding, current_host, forms
from dashboard.hosts import domains as custom_domains
from dashboard.hosts.brand import org_base_url
from dashboard.hosts.resolve import installation_host
from dashboard.licenses.features import Feature
from dashboard.licenses.web import has_feature, requires_feature
from dashboard.models import OrgBranding
from dashboard.permissions import Permission, public, requires
from dashboard.sso import domains as dns_proof

bp = Blueprint("hosts", __name__)
# Owners only, like the org's security policy: ORG_DELETE is the owner-only permission.
OWNER = Permission.ORG_DELETE
navigation.register("Branding", "hosts.branding_page", OWNER, order=85)
navigation.register("Domains", "hosts.domains_page", OWNER, order=86)

_SHA = re.compile(r"^[0-9a-f]{64}$")
_COLOR = re.compile(r"^[0-9a-f]{6}$")


# ----------------------------------------------------------------------------- branding


def _branding_page(form: forms.BrandingForm | None = None, status: int = 200):
    row = branding.current(tenancy.request_session(), g.membership.org_id)
    if form is None:
        form = forms.BrandingForm(formdata=None, obj=row)
    return render_template("hosts/branding.html", form=form, row=row,
                           white_label_form=forms.WhiteLabelForm(formdata=None, obj=row),
                           white_label_allowed=has_feature(Feature.WHITE_LABEL)), status


@bp.route("/o/<slug>/branding")
@requires(OWNER)
@requires_feature(Feature.BRANDING)
def branding_page():
    return _branding_page()


@bp.route("/o/<slug>/branding", methods=["POST"])
@requires(OWNER)
@requires_feature(Feature.BRANDING)
def branding_save():
    form = forms.BrandingForm()
    if not form.validate_on_submit():
        return _branding_page(form, 400)
    upload = request.files.get(form.logo.name)
    given = branding.BrandingInput(
        display_name=form.display_name.data, primary_color=form.primary_color.data,
        support_contact=form.support_contact.data,
        logo_upload=upload.read() if upload and upload.filename else None,
        remove_logo=form.remove_logo.data,
    )
    try:
        branding.save(tenancy.request_session(), g.membership.org_id, request_actor(), given)
    except branding.BrandingError as exc:
        getattr(form, exc.field).errors = [*getattr(form, exc.field).errors, exc.message]
        return _branding_page(form, 400)
    flash("Branding saved.", "success")
    return redirect(url_for("hosts.branding_page"), 303)


@bp.route("/o/<slug>/branding/white-label", methods=["POST"])
@requires(OWNER)
@requires_feature(Feature.WHITE_LABEL)
def white_label_save():
    form = forms.WhiteLabelForm()
    if not form.validate_on_submit():
        abort(400)
    branding.set_white_label(tenancy.request_session(), g.membership.org_id, request_actor(),
                             bool(form.white_label.data))
    flash("White label is on." if form.white_label.data else "White label is off.", "success")
    return redirect(url_for("hosts.branding_page"), 303)


@bp.route("/branding/logo/<sha>.png")
@public
def logo(sha: str):
    """The logo of the host's org (anyone: its sign-in page shows it), or of the signed-in
    member's active org on the installation's host (read under RLS)."""
    if not _SHA.match(sha):
        abort(404)
    db = tenancy.request_session()
    host = current_host()
    if host is not None:
        row = db.execute(text("SELECT logo, logo_sha256 FROM app_host_logo(:org)"),
                         {"org": host.org_id}).one_or_none()
    elif g.get("membership") is not None:
        row = db.get(OrgBranding, g.membership.org_id)
    else:
        row = None
    if row is None or row.logo_sha256 != sha:
        abort(404)
    response = make_response(bytes(row.logo))
    response.headers["Content-Type"] = "image/png"
    # The name is the content's hash: it never changes, so browsers may keep it.
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


@bp.route("/branding/theme/<color>.css")
@public
def theme(color: str):
    """The brand colour as a stylesheet (the CSP allows no inline style). A function of the
    URL alone: nothing of any org is read."""
    if not _COLOR.match(color):
        abort(404)
    css = (f":root {{ --brand-color: #{color}; }}\n"
           f".topbar {{ background: #{color}; color: #fff; }}\n"
           f".topbar a, .topbar summary {{ color: #fff; }}\n"
           f"button.primary, .button.primary {{ background: #{color}; border-color: #{color};"
           f" color: #fff; }}\n")
    response = make_response(css)
    response.headers["Content-Type"] = "text/css; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


# ----------------------------------------------------------------------------- domains


def _domains_page(form: forms.DomainForm | None = None, error: str | None = None,
                  status: int = 200):
    rows = custom_domains.listed(tenancy.request_session())
    config = current_app.config
    return render_template(
        "hosts/domains.html", rows=rows, error=error,
        form=form or forms.DomainForm(formdata=None),
        org_host=org_base_url(config, g.membership.slug)
        if config.get("TENANT_HOST_SUFFIX") else None,
    ), status


def _resolver():
    config = current_app.config
    return dns_proof.make_resolver(config.get("DNS_RESOLVER"), timeout=config["DNS_TIMEOUT"])


@bp.route("/o/<slug>/domains")
@requires(OWNER)
def domains_page():
    return _domains_page()


@bp.route("/o/<slug>/domains", methods=["POST"])
@requires(OWNER)
@step_up
def domain_add():
    form = forms.DomainForm()
    if form.validate_on_submit():
        config = current_app.config
        try:
            custom_domains.claim(
                tenancy.request_session(), g.membership.org_id, request_actor(),
                form.domain.data, installation_host=installation_host(config["BASE_URL"]),
                suffix=config.get("TENANT_HOST_SUFFIX") or "")
        except custom_domains.DomainRefused as exc:
            form.domain.errors = [*form.domain.errors, exc.message]
        else:
            flash("Domain added. Publish the TXT record, then verify it.", "success")
            return redirect(url_for("hosts.domains_page"), 303)
    return _domains_page(form, status=400)


@bp.route("/o/<slug>/domains/<uuid:custom_domain_id>/verify", methods=["POST"])
@requires(OWNER)
@step_up
def domain_verify(custom_domain_id: uuid.UUID):
    if not forms.ActionForm().validate_on_submit():
        abort(400)
    try:
        row = custom_domains.verify(tenancy.request_session(), g.membership.org_id,
                                    request_actor(), custom_domain_id, _resolver())
    except custom_domains.DomainRefused as exc:
        return _domains_page(error=exc.message, status=400)
    if row is None:
        abort(404)
    flash(f"{row.domain} is verified and now serves this organization.", "success")
    return redirect(url_for("hosts.domains_page"), 303)


@bp.route("/o/<slug>/domains/<uuid:custom_domain_id>/delete", methods=["POST"])
@requires(OWNER)
@step_up
def domain_delete(custom_domain_id: uuid.UUID):
    if not forms.ActionForm().validate_on_submit():
        abort(400)
    if not custom_domains.delete(tenancy.request_session(), g.membership.org_id,
                                 request_actor(), custom_domain_id):
        abort(404)
    flash("Domain removed.", "success")
    return redirect(url_for("hosts.domains_page"), 303)
