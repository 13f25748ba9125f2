"""Which plan each page's prepared statements run (issue 20, session 10): generic or custom.

    .venv/bin/python bench/plan_choice_pages.py --page whoami --page home --requests 50

psycopg prepares a statement on its 5th execution on a connection (``prepare_threshold``);
with ``plan_cache_mode = auto`` PostgreSQL then plans it for the bound values (custom plan)
5 more times and keeps its generic plan only if that is not estimated dearer. A statement
that stays on custom plans is planned again on every request. This drives a page in-process
(the real app, as bench/cpu_per_page.py), then reads ``pg_prepared_statements``
(generic_plans, custom_plans) in the app's own backends: only the page's statements are
counted (the pool is emptied after sign-in).
"""

from __future__ import annotations


def main(argv=None) -> int:
    # This checkout's set-up (bench/in_process.py), imported before ``--code`` goes first.
    import bench_profile
    import in_process

    args = in_process.arguments(argv, __doc__, database="tenantdesk_bench_o10000",
                                requests=50, page="many")
    in_process.use_checkout(args.code, quiet=True)
    for page in args.page or ["whoami"]:
        app, dataset, _admin = bench_profile.bench_app(args.database)
        client, path = bench_profile.page_client(app, dataset, page)
        database = app.extensions["tenantdesk.db"]
        database.engine.dispose()  # the sign-in's statements are not the page's
        in_process.repeat(in_process.page_get(client, path), args.requests)
        print(f"{page} {path}: name, generic_plans, custom_plans, statement")
        for record in list(database.engine.pool._pool.queue):  # every idle pooled connection
            connection = record.dbapi_connection
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT name, generic_plans, custom_plans,"
                    " left(regexp_replace(statement, '\\s+', ' ', 'g'), 100)"
                    " FROM pg_prepared_statements ORDER BY name"
                )
                for row in cursor.fetchall():
                    print("  ", *row)
            connection.rollback()
        database.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
