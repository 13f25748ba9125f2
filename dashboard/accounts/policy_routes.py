"""An org's security policy (owners): /o/<slug>/settings/security. HTTP only."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for

from dashboard import tenancy
from dashboard.accounts import mfa, policy
from dashboard.accounts.forms import OrgSecurityForm
from dashboard.accounts.routes import bp
from dashboard.accounts.stepup import step_up
from dashboard.audit.service import record_audit
from dashboard.audit.web import request_actor
from dashboard.permissions import Permission, requires


def _form_from(current: policy.OrgSecurity) -> OrgSecurityForm:
    p = current.policy
    return OrgSecurityForm(
        formdata=None, require_mfa=p.require_mfa, mfa_on_sso=p.mfa_on_sso,
        max_session_hours=p.max_session_hours, idle_minutes=p.idle_minutes,
        domain_join=current.domain_join, domain_join_role=current.domain_join_role)


def _page(form: OrgSecurityForm, status: int = 200):
    return render_template("accounts/org_security.html", form=form), status


@bp.route("/o/<slug>/settings/security")
@requires(Permission.ORG_DELETE)
def org_security():
    return _page(_form_from(policy.load(tenancy.request_session())))


@bp.route("/o/<slug>/settings/security", methods=["POST"])
@requires(Permission.ORG_DELETE)
@step_up
def save_org_security():
    form = OrgSecurityForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    db = tenancy.request_session()
    membership = g.membership
    new = policy.OrgSecurity(
        policy=policy.SecurityPolicy(
            require_mfa=form.require_mfa.data, mfa_on_sso=form.mfa_on_sso.data,
            max_session_hours=form.max_session_hours.data, idle_minutes=form.idle_minutes.data),
        domain_join=form.domain_join.data, domain_join_role=form.domain_join_role.data)
    if new.policy.require_mfa and not mfa.factors(db, g.principal.user_id).any:
        form.require_mfa.errors.append(
            "Set up two-factor authentication for yourself first, or you would lock yourself "
            "out.")
        return _page(form, 400)
    before, after = policy.save(db, membership.org_id, new)
    record_audit(db, org_id=membership.org_id, actor=request_actor(),
                 action="org.security_policy", target=f"org:{membership.slug}",
                 before=before, after=after)
    flash("Security policy saved. It applies to every member from their next click.",
          "success")
    return redirect(url_for("accounts.org_security"), 303)


