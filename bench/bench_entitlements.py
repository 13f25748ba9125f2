"""What feature flags cost per request: the one entitlements statement, in-process.

Standalone (a throwaway embedded database, one org with every override set):
    .venv/bin/python bench/bench_entitlements.py
Inside `make bench` (run(ctx)): the same figure on the seeded big org, plus the
"Plan & features" page under wrk.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import migrate, provisioning, tenancy  # noqa: E402
from dashboard.licenses import service  # noqa: E402

ROUNDS = 2000


def entitlements_cost(runtime_url: str, user_id, org_id, rounds: int = ROUNDS) -> dict:
    """µs per call of service.entitlements, each in a fresh transaction (no cache hit),
    with the transaction's set_config statement timed separately and subtracted."""
    engine = create_engine(runtime_url, pool_size=1)
    factory = sessionmaker(engine)
    context = tenancy.TenantContext(user_id=user_id, org_id=org_id)
    with_call, bare = [], []
    try:
        for i in range(rounds):
            session = factory()
            session.info["tenant_context"] = context
            start = time.perf_counter()
            session.execute(text("SELECT 1"))  # begins: the RLS context statement runs here
            mid = time.perf_counter()
            if i % 2:
                service.entitlements(session)
                with_call.append(time.perf_counter() - mid)
            else:
                bare.append(mid - start)
            session.rollback()
            session.close()
    finally:
        engine.dispose()
    p50 = statistics.median(with_call) * 1e6
    return {
        "entitlements_p50_us": round(p50, 1),
        "entitlements_p99_us": round(sorted(with_call)[int(len(with_call) * 0.99)] * 1e6, 1),
        "transaction_start_p50_us": round(statistics.median(bare) * 1e6, 1),
        "rounds": rounds,
    }


def run(ctx) -> dict:
    org_id = ctx.dataset.big_org["id"]
    engine = create_engine(ctx.urls.admin)
    with engine.connect() as conn:
        user_id = conn.execute(
            text("SELECT user_id FROM memberships WHERE org_id = :o LIMIT 1"), {"o": org_id}
        ).scalar()
    engine.dispose()
    figures = entitlements_cost(ctx.urls.runtime, user_id, org_id)
    figures["plan_page"] = ctx.wrk_get(f"/o/{ctx.dataset.big_org['slug']}/plan")
    return figures


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        admin = provisioning.start_embedded(tempfile.mkdtemp(prefix="tenantdesk-bench-"))
    name = f"tenantdesk_bench_ent_{uuid.uuid4().hex[:6]}"
    urls = provisioning.bootstrap(admin, name)
    try:
        migrate.upgrade(urls.owner)
        engine = create_engine(urls.admin)
        with engine.begin() as conn:
            org_id = conn.execute(text(
                "INSERT INTO organizations (slug, name, plan) VALUES ('bench', 'Bench', 'scale')"
                " RETURNING id")).scalar()
            user_id = conn.execute(text(
                "INSERT INTO users (email, name) VALUES ('b@example.com', 'B') RETURNING id"
            )).scalar()
            conn.execute(text("INSERT INTO memberships (org_id, user_id, role)"
                              " VALUES (:o, :u, 'owner')"), {"o": org_id, "u": user_id})
            conn.execute(text("INSERT INTO licenses (org_id, plan, seats) VALUES (:o, 'scale', 9)"),
                         {"o": org_id})
            conn.execute(text("INSERT INTO feature_overrides (org_id, feature, enabled, reason,"
                              " expires_at) SELECT :o, key, true, 'bench', now() + interval '1 day'"
                              " FROM features"), {"o": org_id})
        engine.dispose()
        print(entitlements_cost(urls.runtime, user_id, org_id))
    finally:
        provisioning.drop_database(admin, name)


if __name__ == "__main__":
    main()
