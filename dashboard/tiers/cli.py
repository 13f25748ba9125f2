"""`tenantdesk tenants ...` (list, move, resume, abort, certificate) and the tier rollout
that `tenantdesk migrate` runs after Alembic. Runs as the owner role."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

console = Console(stderr=False)


def _owner_url() -> str:
    from dashboard.cli import _urls

    return _urls().owner


def rollout(owner_url: str, tenants: str, org: str | None) -> None:
    from dashboard.tiers import rollout as tier_rollout

    def report(slug, changes):
        console.print(f"[green]migrated[/] {slug}: {len(changes)} change(s)")

    _print_revisions(tier_rollout.migrate_tiers(owner_url, tenants, org, report))


def _print_revisions(rows) -> None:
    table = Table("org", "tier", "revision", "status", "cell rows", "size")
    for r in rows:
        table.add_row(r.slug, r.tier, r.revision or "-", r.status, str(r.rows),
                      f"{r.bytes / 1024:.0f} kB" if r.bytes is not None else "-")
    console.print(table)


@click.group()
def tenants() -> None:
    """Isolation tiers: where each org lives, and moving it."""


@tenants.command("list")
def list_() -> None:
    """Every org with its tier, revision and size."""
    from sqlalchemy import create_engine, pool

    from dashboard.tiers import rollout as tier_rollout

    engine = create_engine(_owner_url(), poolclass=pool.NullPool)
    try:
        _print_revisions(tier_rollout.revisions(engine))
    finally:
        engine.dispose()


def _mover():
    from dashboard.tiers.moves import Mover

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TransferSpeedColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    )
    task = {}

    def advance(table: str, rows: int, total: int) -> None:
        if "id" not in task:
            task["id"] = progress.add_task("copying rows", total=max(total, 1))
        progress.update(task["id"], advance=rows, description=f"copied {table} ({rows} rows)")

    return Mover(_owner_url(), progress=advance), progress


def _finish(mover, progress, move_id) -> None:
    from dashboard.tiers.moves import MoveError

    try:
        with progress:
            move = mover.run(move_id)
    except MoveError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        mover.close()
    console.print(f"[green]{move['org_slug']}[/] is on the {move['to_tier']} tier"
                  f" (move {move['id']}, {move['state']}); verified tables:")
    for table, sides in sorted(move["tables"].items()):
        src = sides.get("source", {})
        console.print(f"  {table}: {src.get('rows')} rows, checksum {src.get('checksum')}")


@tenants.command("move")
@click.argument("slug")
@click.option("--to", "to", required=True, type=click.Choice(["shared", "schema", "dedicated"]))
@click.option("--target", default=None,
              help="Dedicated tier: the environment variable holding its database's URL"
                   " (the owner's in NAME_OWNER, else the same URL as tenantdesk_owner).")
def move(slug: str, to: str, target: str | None) -> None:
    """Move an org to another tier: read-only, copy, verify, switch, purge, certificate."""
    from dashboard.tiers.moves import MoveError

    mover, progress = _mover()
    try:
        move_id = mover.start(slug, to, requested_by="cli", target=target)
    except MoveError as exc:
        mover.close()
        raise click.ClickException(str(exc)) from exc
    _finish(mover, progress, move_id)


def _open_move(mover, slug):
    org_id, _ = mover.org(slug)
    move = mover.open_move(org_id)
    if move is None:
        raise click.ClickException(f"{slug} has no open move")
    return move


@tenants.command("resume")
@click.argument("slug")
def resume(slug: str) -> None:
    """Carry an interrupted (or staff-requested) move to its end."""
    from dashboard.tiers.moves import MoveError

    mover, progress = _mover()
    try:
        move = _open_move(mover, slug)
    except (MoveError, click.ClickException):
        mover.close()
        raise
    _finish(mover, progress, move["id"])


@tenants.command("run-requested")
def run_requested() -> None:
    """Carry out the moves staff requested in the console (cron-friendly)."""
    from sqlalchemy import text

    mover, progress = _mover()
    with mover.engine.begin() as conn:
        moves = conn.execute(text("SELECT id, org_slug FROM tenant_moves"
                                  " WHERE state = 'requested' ORDER BY created_at")).all()
    mover.close()
    for move_id, slug in moves:
        console.print(f"moving {slug} (requested in the staff console)")
        mover, progress = _mover()
        _finish(mover, progress, move_id)
    console.print(f"{len(moves)} requested move(s) carried out.")


@tenants.command("abort")
@click.argument("slug")
def abort(slug: str) -> None:
    """Abandon a move not yet switched: the org stays where it was, the target is emptied."""
    from dashboard.tiers.moves import MoveError

    mover, _ = _mover()
    try:
        move = mover.abort(_open_move(mover, slug)["id"])
    except MoveError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        mover.close()
    console.print(f"move {move['id']} aborted; {slug} stays on the {move['from_tier']} tier")


@tenants.command("certificate")
@click.argument("slug")
def certificate(slug: str) -> None:
    """Print the certificates (JSON) of the org's finished moves."""
    from sqlalchemy import text

    from dashboard.tiers.moves import Mover

    mover = Mover(_owner_url())
    try:
        org_id, _ = mover.org(slug)
        with mover.engine.begin() as conn:
            rows = conn.execute(
                text("SELECT * FROM tenant_moves WHERE org_id = :o AND state = 'done'"
                     " ORDER BY created_at"), {"o": org_id},
            ).all()
    finally:
        mover.close()
    click.echo(json.dumps([dict(r._mapping) for r in rows], default=str, indent=2))
