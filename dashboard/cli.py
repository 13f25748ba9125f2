"""The `tenantdesk` command: serve, migrate, seed-demo, db-url, run, make-staff, worker."""

from __future__ import annotations

import os
import signal
import sys

import click

from dashboard import config as settings
from dashboard import provisioning


def _urls() -> provisioning.DatabaseUrls:
    return provisioning.resolve_urls(settings.from_environment())


def _stop_on_sigterm() -> None:
    # SIGTERM and Ctrl-C exit through atexit, so the embedded PostgreSQL stops with us. SIGINT
    # is re-armed because a shell starting us in the background may have set it to "ignore".
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)


@click.group()
def main() -> None:
    """Tenantdesk: a tenant admin dashboard isolated by PostgreSQL row-level security."""


@main.command()
@click.option("--tenants", default="all", show_default=True,
              help="Tenant tiers to bring to the new revision: N (the first N behind) or all.")
@click.option("--org", default=None, help="Bring only this org's tier to the new revision.")
def migrate(tenants: str, org: str | None) -> None:
    """Apply database migrations (as the owner role): the shared schema, then tenant tiers."""
    from dashboard import migrate as migrations
    from dashboard.tiers import cli as tiers_cli

    if tenants != "all" and not tenants.isdigit():
        raise click.BadParameter("a number or 'all'", param_hint="--tenants")
    owner = _urls().owner
    migrations.upgrade(owner)
    click.echo("Shared schema is up to date.")
    tiers_cli.rollout(owner, tenants, org)


@main.command("seed-demo")
def seed_demo() -> None:
    """Load the demo organizations and people (safe to run again)."""
    _seed()


def _seed() -> None:
    from dashboard import create_app, demo

    app = create_app()
    database = app.extensions["tenantdesk.db"]
    demo.seed(database.sessionmaker, app.extensions["tenantdesk.passwords"], database.urls.owner)
    app.extensions["tenantdesk.db"].dispose()
    click.echo("Demo data loaded. Sign in with any of (password: tenantdesk-demo):")
    for email, what in demo.LOGINS:
        click.echo(f"  {email:<22} {what}")


@main.command("db-url")
@click.option("--owner", is_flag=True, help="Print the migration (owner) URL instead.")
def db_url(owner: bool) -> None:
    """Print the URL of the database in use."""
    urls = _urls()
    click.echo(urls.owner if owner else urls.runtime)


@main.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST")
@click.option("--port", default=lambda: int(os.environ.get("PORT", "5000")), type=int,
              show_default="PORT")
def serve(host: str, port: int) -> None:
    """Serve the dashboard (threaded WSGI server; use gunicorn wsgi:app in production)."""
    _serve(host, port)


def _serve(host: str, port: int, with_worker: bool = False) -> None:
    from werkzeug.serving import run_simple

    from dashboard import create_app
    from dashboard.config import served_url

    _stop_on_sigterm()
    # Links we publish follow the address actually served unless BASE_URL says otherwise.
    os.environ["HOST"], os.environ["PORT"] = host, str(port)
    app = create_app()
    if with_worker:  # `tenantdesk run`: one worker beside the web server, in this process
        from dashboard.worker import Worker

        Worker(app).start(threads=app.config["WORKER_THREADS"])
        click.echo("Worker started (webhooks, audit streams, periodic jobs).")
    served = served_url(host, port)
    base = app.config["BASE_URL"].rstrip("/")
    if base != served:
        click.echo(f"Note: links in mail and SSO metadata use BASE_URL={base}, not {served}; "
                   "that is right behind a proxy, wrong otherwise.", err=True)
    click.echo(f"Tenantdesk is running on {served}/  (Ctrl-C to stop)")
    suffix = app.config.get("TENANT_HOST_SUFFIX")
    if suffix:
        click.echo(f"Each org also has its own host, e.g. http://acme{suffix}:{port}/")
    if app.config.get("DEV_MAIL_VIEWER") and not app.config.get("SMTP_URL"):
        outbox = app.extensions["tenantdesk.mail"].outbox
        click.echo(f"Mail is not sent (no SMTP_URL): it is kept in {outbox} and readable at "
                   f"{served}/dev/mail")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@main.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"))
@click.option("--port", default=lambda: int(os.environ.get("PORT", "5000")), type=int)
def run(host: str, port: int) -> None:
    """Quickstart: database, migrations, demo data, then serve."""
    from dashboard import migrate as migrations

    # The quickstart is a demo: without SMTP_URL, show kept mail at /dev/mail.
    os.environ.setdefault("TENANTDESK_DEV_MAIL", "1")
    _stop_on_sigterm()
    # Development: SSO connections may point at an IdP on this machine.
    os.environ.setdefault("ALLOW_PRIVATE_METADATA_URLS", "1")
    os.environ["HOST"], os.environ["PORT"] = host, str(port)
    os.environ.setdefault("ALLOW_PRIVATE_EVENT_URLS", "1")  # webhooks to a local receiver
    os.environ.setdefault("TENANT_HOST_SUFFIX", ".localhost")  # acme.localhost:PORT is Acme's
    migrations.upgrade(_urls().owner)
    _rollout_tiers(_urls().owner)
    _seed()
    _serve(host, port, with_worker=True)


def _rollout_tiers(owner: str) -> None:
    from dashboard.tiers import rollout

    rollout.migrate_tiers(owner)  # tenant schemas follow the shared schema (quietly)


@main.command("make-staff")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Remove the staff flag instead.")
def make_staff(email: str, revoke: bool) -> None:
    """Mark a user as Tenantdesk staff (never possible from a web form)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(_urls().owner)
    with engine.begin() as conn:
        updated = conn.scalar(  # the app's own role cannot: an operator-only function
            text("SELECT app_operator_set_staff(:email, :staff)"),
            {"staff": not revoke, "email": email},
        )
    engine.dispose()
    if not updated:
        raise click.ClickException(f"No user with email {email}.")
    click.echo(f"{email} is {'no longer ' if revoke else ''}staff.")


@main.group()
def partner() -> None:
    """Partner (provider) accounts for the provisioning API."""


@partner.command("create")
@click.argument("name")
@click.option("--grace-days", default=30, show_default=True, type=click.IntRange(0, 365))
def partner_create(name: str, grace_days: int) -> None:
    """Register a provider and print its API credential (shown once)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from dashboard.partner.credentials import create_provider

    config = settings.from_environment()
    engine = create_engine(_urls().owner)
    with Session(engine) as session, session.begin():
        provider, secret = create_provider(session, config["SECRET_KEY"], name, grace_days)
    engine.dispose()
    click.echo(f"Provider {name} ({provider.id}). Its credential, shown only now:\n{secret}")


@main.command("scim-token")
@click.argument("org_slug")
@click.option("--name", default="Operator token", show_default=True)
def scim_token(org_slug: str, name: str) -> None:
    """Create a SCIM token for an organization and print it (shown once; stored as a hash)."""
    from sqlalchemy import create_engine, text

    from dashboard.apikeys import tokens as key_tokens
    from dashboard.scim import tokens

    config = settings.from_environment()
    hmac_key = key_tokens.server_key(config.get("API_KEY_HMAC_KEY"), config["SECRET_KEY"])
    prefix, secret, plaintext = tokens.generate()
    engine = create_engine(_urls().owner)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("SELECT app_operator_scim_token(:slug, :name, :prefix, :hash)"),
                {"slug": org_slug, "name": name[:100], "prefix": prefix,
                 "hash": key_tokens.hash_secret(hmac_key, prefix, secret)},
            )
    except Exception as exc:  # no such org, or the database refused
        raise click.ClickException(f"Could not create a SCIM token for {org_slug}: "
                                   f"{getattr(exc, 'orig', exc)}") from None
    finally:
        engine.dispose()
    click.echo(f"SCIM token for {org_slug}, shown only now:\n{plaintext}")


@main.group()
def jobs() -> None:
    """Background jobs (cron-friendly, idempotent)."""


@jobs.command("run")
def jobs_run() -> None:
    """Run the periodic jobs once (the worker runs them every JOBS_INTERVAL_SECONDS):
    purge organizations whose deletion grace period is over (export + certificate first)."""
    from dashboard import create_app
    from dashboard.worker import run_periodic_jobs

    run_periodic_jobs(create_app(), click.echo)


@main.command()
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Delivery threads (default WORKER_THREADS, 4).")
@click.option("--name", default=None, help="Name in the delivery log (default host:pid).")
@click.option("--no-jobs", is_flag=True, help="Do not run the periodic jobs.")
def worker(threads: int | None, name: str | None, no_jobs: bool) -> None:
    """Deliver webhooks and audit-log streams, run periodic jobs. Several may run at once."""
    from dashboard import create_app
    from dashboard.worker import Worker

    _stop_on_sigterm()
    app = create_app()
    runner = Worker(app, name=name)
    started = runner.start(threads=threads or app.config["WORKER_THREADS"], jobs=not no_jobs)
    click.echo(f"Worker {runner.name} started ({len(started)} threads). Ctrl-C stops it.")
    try:
        while not runner.stopping.wait(1.0):
            pass
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        runner.stop(started)
        app.extensions["tenantdesk.db"].dispose()


@jobs.command("sso-certificates")
def jobs_sso_certificates() -> None:
    """Mail owners 30 and 7 days before their IdP's SAML certificate expires (once each)."""
    from dashboard import create_app
    from dashboard.sso import expiry

    app = create_app()
    click.echo(f"{expiry.run_job(app)} certificate expiry mail(s) sent.")
    app.extensions["tenantdesk.db"].dispose()


@main.command("rotate-signing-key")
def rotate_signing_key() -> None:
    """Start signing access tokens with a new key; the old one stays published until every
    token it signed has expired, so nobody is logged out."""
    from dashboard import create_app
    from dashboard.auth.access_tokens import keyring_for

    app = create_app()
    kid = keyring_for(app).rotate()
    app.extensions["tenantdesk.db"].dispose()
    click.echo(f"New access-token signing key: {kid}")


@main.command("restore-org")
@click.argument("export", type=click.Path(exists=True, dir_okay=False))
@click.option("--admin-url", help="A role that bypasses row-level security (superuser or "
              "BYPASSRLS) on the Tenantdesk database; default: the embedded server's.")
def restore_org(export: str, admin_url: str | None) -> None:
    """Put a deleted org back from its export zip (checked against its manifest first)."""
    from pathlib import Path

    from dashboard.ops.restore import RestoreRefused
    from dashboard.ops.restore import restore_org as restore

    if not admin_url:
        urls = _urls()
        if urls.admin is None:
            raise click.ClickException("with DATABASE_URL set, pass --admin-url")
        admin_url = urls.admin
    try:
        restored = restore(admin_url, Path(export))
    except (RestoreRefused, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    rows = sum(restored.row_counts.values())
    click.echo(f"Restored org {restored.org_id}: {rows} rows in "
               f"{len(restored.row_counts)} tables, as in the export's manifest.")


@main.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.option("--production", is_flag=True, help="Apply the production rules even without an "
              "https BASE_URL.")
def config_check(production: bool) -> None:
    """Print the effective settings (secrets masked); exit 1 on an unsafe production set-up."""
    from dashboard.ops import config_check as checks

    config = settings.from_environment()
    report = checks.check(config, settings.operator_secret_key(), production)
    width = max(map(len, report.settings))
    for name, value in report.settings.items():
        click.echo(f"{name:<{width}}  {value}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    for problem in report.problems:
        click.echo(f"UNSAFE: {problem}", err=True)
    if report.problems:
        raise SystemExit(1)
    click.echo("Configuration OK.")


def _add_tiers() -> None:
    from dashboard.tiers.cli import tenants

    main.add_command(tenants)


_add_tiers()

@main.command("rotate-saml-sp-key")
def rotate_saml_sp_key() -> None:
    """Rotate the SAML SP key pair in two runs: the first publishes the next key beside the
    active one (IdPs refresh our metadata), the second starts using it."""
    from dashboard import create_app, tenancy
    from dashboard.sso import crypto, sp_keys

    app = create_app()
    sessions = app.extensions["tenantdesk.db"].sessionmaker
    with tenancy.scoped_session(sessions, tenancy.NOBODY) as session:
        message = sp_keys.rotate(session, crypto.key_from_config(app.config))
    app.extensions["tenantdesk.db"].dispose()
    click.echo(message)


@main.group()
def audit() -> None:
    """The tamper-evident audit log: verify chains, sign checkpoints."""


@audit.command("verify")
@click.argument("slug", required=False)
def audit_verify(slug: str | None) -> None:
    """Recompute every org's audit hash chain (or SLUG's); exit 1 if one is broken."""
    from sqlalchemy import create_engine

    from dashboard.audit import chain

    engine = create_engine(_urls().owner)
    with engine.connect() as connection:
        verdicts = chain.verify_all(connection, slug)
    engine.dispose()
    if slug and not verdicts:
        raise click.ClickException(f"No organization with slug {slug}.")
    broken = 0
    for verdict in verdicts:
        if verdict.intact:
            click.echo(f"{verdict.org_slug}: intact ({verdict.checked} entries)")
        else:
            broken += 1
            click.echo(f"{verdict.org_slug}: BROKEN at entry {verdict.first_broken_seq}: "
                       f"{verdict.problem}")
    if broken:
        sys.exit(1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain head of every org whose audit log grew since its last checkpoint."""
    from dashboard import create_app
    from dashboard.trust import jobs as trust_jobs

    app = create_app()
    click.echo(f"{trust_jobs.sign_checkpoints(app)} checkpoint(s) signed.")
    app.extensions["tenantdesk.db"].dispose()


@main.command("selftest")
def selftest_command() -> None:
    """Try to cross tenants on this live database as the runtime role; record the result
    (shown on /trust). Exit status 1 if any row was seen that should not have been."""
    from dashboard import create_app
    from dashboard.trust import jobs as trust_jobs

    app = create_app()
    result = trust_jobs.run_selftest(app)
    app.extensions["tenantdesk.db"].dispose()
    if result is None:
        raise click.ClickException("The self-test needs MIGRATION_DATABASE_URL (owner role).")
    click.echo(f"{result.tables} tables and {result.functions} functions probed, "
               f"{result.attempts} attempts, {result.leaks} rows seen that should not have "
               f"been, {result.duration_ms} ms.")
    for finding in result.findings:
        click.echo(f"  LEAK {finding}")
    if not result.ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
