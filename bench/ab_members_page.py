"""In-process A/B of the members page's reads (issue 20, session 8, m2 pass).

    .venv/bin/python bench/ab_members_page.py --database tenantdesk_rls_o300 --rounds 6

"two statements" is the page as before this pass (the roles/entitlements statement, then the
list with ``org_id = :org_id`` written next to the policies), patched in; "one statement" is
the code as it is (``service.roles_and_members``). Both alternate in ONE process on the same
signed-in client; CPU ms per request of this process and of every PostgreSQL backend.
Under callgrind (``--toggle-collect=functools_reduce --dump-after=functools_reduce``) each
measured block is one profile, in the order printed at the end (bench/alternate.py).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PAGES = ("members", "members_search", "members_huge")


@contextlib.contextmanager
def two_statements():
    from dashboard import first_statement
    from dashboard.members import roles as role_rules
    from dashboard.members import service

    explicit = functools.partial(service._list_sql, explicit_org=True)

    def before(session, *, editor, wanted):
        from flask import g  # the org id the route passed before this pass

        roles = role_rules.catalogue_with_entitlements(session)
        with mock.patch.object(service, "_list_sql", explicit):
            ask = service._ask(roles, wanted)
        records = first_statement.rows(
            session, ask.sql, {**ask.params, "org_id": g.membership.org_id}
        )
        return roles, service._page(ask, records, editor, roles, wanted.text_ids)

    with mock.patch.object(service, "roles_and_members", before):
        yield


def main(argv: list[str] | None = None) -> int:
    import bench_profile
    import pages
    import seed
    from alternate import Meter, turns

    from dashboard import create_app, provisioning
    from dashboard.db import recording_statements

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="tenantdesk_rls_o300")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--pages", default=",".join(PAGES), help="keys of bench/pages.py")
    args = parser.parse_args(argv)
    keys = args.pages.split(",")
    admin, _ = seed.admin_url()
    dataset = seed.read_dataset(admin, args.database)
    urls = provisioning.bootstrap(admin, args.database)
    app = create_app({"DATABASE_URLS": urls, "DB_POOL_SIZE": 2})
    meter = Meter(admin)
    clients, paths = {}, {}
    for key in keys:
        page = next(p for p in pages.PAGES if p.key == key)
        huge = page.slug == "huge"
        org = dataset.huge_org if huge else dataset.big_org
        login = dataset.logins[2] if huge else dataset.logins[1]
        clients[key] = bench_profile.sign_in(app, login, dataset.password, f"/o/{org['slug']}/")
        paths[key], _ = pages.path_for(app.url_map, page, org["slug"])
    variants = {"two statements": two_statements, "one statement": contextlib.nullcontext}
    figures = {(v, p): [] for v in variants for p in keys}
    statements, bodies, blocks = {}, {}, []
    for _, variant in turns(variants, args.rounds):
        with variants[variant]():
            for key in keys:
                client, path = clients[key], paths[key]
                for _ in range(5):
                    assert client.get(path).status_code == 200, path
                with recording_statements(app.extensions["tenantdesk.db"].engine) as seen:
                    body = client.get(path).get_data(as_text=True)
                statements[(variant, key)] = len(seen)
                bodies[(variant, key)] = _comparable(body)
                call = functools.partial(client.get, path)
                figures[(variant, key)].append(meter.per_call(call, args.requests))
                blocks.append((variant, key))
    print(f"{args.rounds} rounds x {args.requests} requests, medians, CPU ms per request")
    for key in keys:
        same = bodies[("two statements", key)] == bodies[("one statement", key)]
        for variant in variants:
            runs = figures[(variant, key)]
            app_ms = statistics.median(a for a, _ in runs)
            db_ms = statistics.median(d for _, d in runs)
            print(
                f"{key:<15} {variant:<15} app {app_ms:5.2f} db {db_ms:5.2f}"
                f" total {app_ms + db_ms:5.2f}  statements {statements[(variant, key)]}"
                f"  same HTML {same}"
            )
    print("blocks in order:", "; ".join(f"{v}/{p}" for v, p in blocks))
    return 0


def _comparable(html: str) -> str:
    """The page less what differs per request (the CSRF token)."""
    import re

    return re.sub(r'(csrf[^"]*"\s*(?:value|content)=")[^"]*', r"\1", html)


if __name__ == "__main__":
    sys.exit(main())
