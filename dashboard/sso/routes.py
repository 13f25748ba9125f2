"""SSO settings pages under /o/<slug>/sso (permission sso.manage). HTTP only: rules live in
service.py; the login endpoints (ACS, callback) are in login.py."""

from __future__ import annotations

import dataclasses
import uuid

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, url_for

from dashboard import navigation, tenancy
from dashboard.accounts.stepup import step_up
from dashboard.audit.web import request_actor
from dashboard.licenses.features import Feature
from dashboard.licenses.web import requires_feature
from dashboard.permissions import Permission, requires
from dashboard.sso import crypto, domains, fetch, forms, guides, login, saml, service, sp_keys

bp = Blueprint("sso", __name__)
navigation.register("Single sign-on", "sso.settings", Permission.SSO_MANAGE, order=70,
                    feature=Feature.SSO)


def _allow_private() -> bool:
    return bool(current_app.config["ALLOW_PRIVATE_METADATA_URLS"])


def _role_choices(db) -> list[tuple[str, str]]:
    return [(r.key, r.label) for r in service.assignable_roles(db, g.membership.role)]


def _options_form(db) -> forms.OptionsForm:
    form = forms.OptionsForm()
    form.default_role.choices = _role_choices(db)
    return form


def _page(status: int = 200, **given):
    """The settings page; forms passed in (with their errors) replace fresh ones."""
    db = tenancy.request_session()
    conn = service.current_connection(db)
    base = current_app.config["BASE_URL"]
    options = given.get("options_form")
    if options is None:
        options = forms.OptionsForm(formdata=None, obj=_options_values(conn))
        options.default_role.choices = _role_choices(db)
    oidc_form = given.get("oidc_form") or forms.OidcForm(
        formdata=None, **(_oidc_values(conn) if conn and conn.kind == "oidc" else {}))
    domain_rows = service.listed_domains(db)
    connection_id = conn.id if conn else service.planned_connection_id(g.membership.org_id)
    sp = sp_keys.sp_config(db, crypto.key_from_config(current_app.config), base, connection_id)
    values = guides.SpValues(entity_id=sp.entity_id, acs_url=sp.acs_url,
                             metadata_url=sp.entity_id, slo_url=sp.slo_url,
                             redirect_uri=login.oidc_redirect_uri(connection_id))
    return render_template(
        "sso/settings.html",
        conn=conn,
        refused_last_day=service.refused_last_day(db) if conn else 0,
        sp=sp,
        sp_certificate=saml.certificate_summary(sp.signing.certificate) if sp.signing else None,
        redirect_uri=values.redirect_uri,
        guides=guides.guides(values),
        certs=[saml.certificate_summary(c) for c in conn.config.get("certs", [])]
        if conn and conn.kind == "saml" else [],
        metadata_form=given.get("metadata_form") or forms.SamlMetadataForm(formdata=None),
        url_form=given.get("url_form") or forms.SamlUrlForm(formdata=None),
        manual_form=given.get("manual_form") or forms.SamlManualForm(formdata=None),
        oidc_form=oidc_form,
        options_form=options,
        domain_form=given.get("domain_form") or forms.DomainForm(formdata=None),
        action_form=forms.ActionForm(),
        domain_rows=domain_rows,
        domain_error=given.get("domain_error"),
        action_error=given.get("action_error"),
    ), status


def _options_values(conn):
    class Values:
        pass

    values = Values()
    if conn is None:
        values.default_role = "member"
        values.owner_break_glass = True
        return values
    mapping = conn.attribute_map or {}
    values.default_role = conn.default_role
    values.email_attribute = mapping.get("email", "")
    values.name_attribute = mapping.get("name", "")
    values.groups_attribute = mapping.get("groups", "")
    values.group_roles = "\n".join(f"{k} = {v}" for k, v in
                                   (mapping.get("group_roles") or {}).items())
    values.allow_idp_initiated = conn.allow_idp_initiated
    values.require_sso = conn.require_sso
    values.owner_break_glass = conn.owner_break_glass
    values.identify_by = conn.config.get("identify_by", "auto")
    values.want_encrypted_assertions = bool(conn.config.get("want_encrypted_assertions"))
    return values


def _oidc_values(conn) -> dict:
    return {k: conn.config.get(k, "") for k in ("issuer", "client_id", "scopes")}


def _saved(message: str):
    flash(message, "success")
    return redirect(url_for("sso.settings"), 303)


def _config_error(form, exc: service.SsoConfigError | saml.SamlConfigError, field: str):
    getattr(form, field).errors = [*getattr(form, field).errors, str(exc)]


@bp.route("/o/<slug>/sso")
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
def settings():
    return _page()


# ----------------------------------------------------------------------------- SAML


def _save_idp(idp: saml.IdpConfig, form, field: str):
    db = tenancy.request_session()
    try:
        service.save_saml(db, g.membership.org_id, request_actor(), idp)
    except service.SsoConfigError as exc:
        _config_error(form, exc, field)
        return None
    return _saved("SAML connection saved.")


@bp.route("/o/<slug>/sso/saml/metadata", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def saml_metadata():
    form = forms.SamlMetadataForm()
    if form.validate_on_submit():
        upload = form.metadata_file.data
        xml = upload.read(saml.MAX_METADATA_BYTES + 1) if upload else (form.metadata_xml.data
                                                                      or "").strip()
        field = "metadata_file" if upload else "metadata_xml"
        if not xml:
            form.metadata_xml.errors = ["Paste the metadata XML or choose a file."]
        else:
            try:
                idp = saml.parse_metadata(xml, allow_http=_allow_private())
            except saml.SamlConfigError as exc:
                _config_error(form, exc, field)
            else:
                done = _save_idp(idp, form, field)
                if done:
                    return done
    return _page(400, metadata_form=form)


@bp.route("/o/<slug>/sso/saml/url", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def saml_url():
    form = forms.SamlUrlForm()
    if form.validate_on_submit():
        try:
            xml = fetch.fetch(form.metadata_url.data, allow_private=_allow_private(),
                              max_bytes=saml.MAX_METADATA_BYTES,
                              timeout=current_app.config["SSO_FETCH_TIMEOUT"],
                              accept="application/samlmetadata+xml, application/xml")
            idp = saml.parse_metadata(xml, allow_http=_allow_private())
        except (fetch.FetchError, saml.SamlConfigError) as exc:
            _config_error(form, exc, "metadata_url")
        else:
            done = _save_idp(idp, form, "metadata_url")
            if done:
                return done
    return _page(400, url_form=form)


@bp.route("/o/<slug>/sso/saml/manual", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def saml_manual():
    form = forms.SamlManualForm()
    if form.validate_on_submit():
        try:
            idp = saml.idp_from_fields(form.entity_id.data, form.sso_url.data,
                                       form.certificate.data, allow_http=_allow_private())
        except saml.SamlConfigError as exc:
            field = "certificate" if "certificate" in str(exc) else (
                "sso_url" if "URL" in str(exc) else "entity_id")
            _config_error(form, exc, field)
        else:
            done = _save_idp(idp, form, "entity_id")
            if done:
                return done
    return _page(400, manual_form=form)


# ----------------------------------------------------------------------------- OIDC


@bp.route("/o/<slug>/sso/oidc", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def oidc_save():
    form = forms.OidcForm()
    if form.validate_on_submit():
        db = tenancy.request_session()
        try:
            service.save_oidc(
                db, g.membership.org_id, request_actor(), issuer=form.issuer.data,
                client_id=form.client_id.data, client_secret=form.client_secret.data or "",
                scopes=form.scopes.data or "",
                net=dataclasses.replace(login.net(), cache_seconds=0),  # the admin's fix, now
                key=crypto.key_from_config(current_app.config),
            )
        except service.SsoConfigError as exc:
            _config_error(form, exc, exc.field if hasattr(form, exc.field) else "issuer")
        else:
            return _saved("OIDC connection saved.")
    return _page(400, oidc_form=form)


# ----------------------------------------------------------------------------- options


@bp.route("/o/<slug>/sso/options", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def options():
    db = tenancy.request_session()
    form = _options_form(db)
    if form.validate_on_submit():
        try:
            service.save_options(
                db, g.membership.org_id, request_actor(), g.membership.role,
                service.Options(
                    default_role=form.default_role.data,
                    email_attribute=form.email_attribute.data or "",
                    name_attribute=form.name_attribute.data or "",
                    groups_attribute=form.groups_attribute.data or "",
                    group_roles=form.group_roles.data or "",
                    allow_idp_initiated=form.allow_idp_initiated.data,
                    require_sso=form.require_sso.data,
                    owner_break_glass=form.owner_break_glass.data,
                    identify_by=form.identify_by.data,
                    want_encrypted_assertions=form.want_encrypted_assertions.data,
                ),
                g.principal.session_id,
            )
        except service.SsoConfigError as exc:
            _config_error(form, exc, exc.field)
        else:
            return _saved("Sign-in options saved.")
    return _page(400, options_form=form)


@bp.route("/o/<slug>/sso/delete", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def delete():
    form = forms.ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not service.delete_connection(tenancy.request_session(), g.membership.org_id,
                                     request_actor()):
        abort(404)
    return _saved("SSO connection removed.")


@bp.route("/o/<slug>/sso/test", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
def test():
    form = forms.ActionForm()
    conn = service.current_connection(tenancy.request_session())
    if not form.validate_on_submit() or conn is None:
        abort(404 if conn is None else 400)
    return login.begin(conn.id, "test", user_id=g.principal.user_id)


# ----------------------------------------------------------------------------- domains


@bp.route("/o/<slug>/sso/domains", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def domain_claim():
    form = forms.DomainForm()
    if form.validate_on_submit():
        try:
            service.claim_domain(tenancy.request_session(), g.membership.org_id,
                                 request_actor(), form.domain.data)
        except service.SsoConfigError as exc:
            _config_error(form, exc, "domain")
        else:
            return _saved("Domain added. Publish the TXT record, then verify it.")
    return _page(400, domain_form=form)


@bp.route("/o/<slug>/sso/domains/<uuid:domain_id>/verify", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def domain_verify(domain_id: uuid.UUID):
    form = forms.ActionForm()
    if not form.validate_on_submit():
        abort(400)
    db = tenancy.request_session()
    resolver = domains.make_resolver(current_app.config.get("DNS_RESOLVER"),
                                     timeout=current_app.config["DNS_TIMEOUT"])
    try:
        row = service.verify_domain(db, g.membership.org_id, request_actor(), domain_id,
                                    resolver)
    except service.SsoConfigError as exc:
        return _page(400, domain_error=exc.message)
    if row is None:
        abort(404)
    return _saved(f"{row.domain} is verified.")


@bp.route("/o/<slug>/sso/domains/<uuid:domain_id>/delete", methods=["POST"])
@requires(Permission.SSO_MANAGE)
@requires_feature(Feature.SSO)
@step_up
def domain_delete(domain_id: uuid.UUID):
    form = forms.ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not service.delete_domain(tenancy.request_session(), g.membership.org_id,
                                 request_actor(), domain_id):
        abort(404)
    return _saved("Domain removed.")
