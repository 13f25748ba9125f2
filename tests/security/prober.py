"""Machinery of the isolation prober: plan probes from the URL map, send them, judge answers,
and dump org B's rows as the superuser. What to probe lives in probe_registry.py.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy import text

from dashboard import table_kinds
from tests import factories
from tests.helpers import csrf_token, login
from tests.security.probe_registry import (
    AUTH_SCHEMES,
    CONTROL_EXEMPT,
    EXCLUDED,
    FORM_DATA,
    GENERIC_FORM,
    JSON_PREFIXES,
    NOT_REFERENCES,
    PROVIDERS,
    ProbeOrg,
    value_for,
)

IGNORED_METHODS = {"HEAD", "OPTIONS"}
REFUSALS = {401, 403, 404}


@dataclass
class Probe:
    endpoint: str
    method: str
    variant: str
    url: str
    form: dict | None = None
    json: dict | None = None
    must_refuse: bool = True  # B's values are in the URL: only 403/404 (or harmless redirect)

    def __str__(self) -> str:
        path, _, query = self.url.partition("?")
        shown = f"{path}?<B's values>" if query else path  # the full query is long and known
        return f"{self.method} {shown} [{self.endpoint}; {self.variant}]"


@dataclass
class Finding:
    probe: Probe
    status: int | None
    problem: str

    def __str__(self) -> str:
        return f"{self.probe} -> {self.status}: {self.problem}"


# ------------------------------------------------------------------------------ the URL map


def probed_rules(app) -> list:
    return [
        rule
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
        if rule.endpoint not in EXCLUDED
    ]


def missing_providers(app) -> list[str]:
    return sorted(
        f"{rule.rule} ({rule.endpoint}): no provider for <{name}>"
        for rule in probed_rules(app)
        for name in rule.arguments
        if name not in PROVIDERS
    )


MISSING_PROVIDER_HELP = (
    "The isolation prober cannot fill these URL parameters with org B's ids. Add a provider "
    "in tests/security/probe_registry.py (@provides('<name>'), see the top of that module), "
    "or, with a reviewed reason, exclude the endpoint in EXCLUDED:\n  "
)


def _build(rule, values: dict[str, str]) -> str:
    built = rule.build(values, append_unknown=False)
    assert built is not None, f"cannot build {rule.rule} from {values}"
    return built[1]


def _methods(rule) -> list[str]:
    return sorted(set(rule.methods or ()) - IGNORED_METHODS)


def plan(app, a: ProbeOrg, b: ProbeOrg) -> list[Probe]:
    """Every probe for every route; all providers' objects exist in A and B afterwards."""
    b_everything = {name: value_for(name, b) for name in sorted(PROVIDERS)}
    probes: list[Probe] = []
    for rule in probed_rules(app):
        params = sorted(rule.arguments)
        url_a = _build(rule, {p: value_for(p, a) for p in params})
        api = url_a.startswith(JSON_PREFIXES)
        custom = FORM_DATA.get(rule.endpoint, lambda a, b: {})(a, b)
        plausible = custom if api else {**GENERIC_FORM, **custom}
        attack = {**plausible, **b_everything}
        # B's values in the URL must be refused, unless none of them points at B's objects.
        refuse = any(p not in NOT_REFERENCES for p in params)
        urls = []
        if params:
            urls.append(("B's values in the URL",
                         _build(rule, {p: b_everything[p] for p in params})))
        if "slug" in params and len(params) > 1:
            urls.append(("A's slug, B's ids in the URL",
                         _build(rule, {p: a.slug if p == "slug" else b_everything[p]
                                       for p in params})))
        for method in _methods(rule):
            body = {} if method == "GET" else {"json" if api else "form": plausible}
            for variant, url in urls:
                probes.append(Probe(rule.endpoint, method, variant, url, must_refuse=refuse,
                                    **body))
            if method == "GET":
                probes.append(Probe(rule.endpoint, method, "B's values in the query",
                                    f"{url_a}?{urlencode(b_everything)}", must_refuse=False))
                continue
            if not api:
                probes.append(Probe(rule.endpoint, method, "B's values in the form", url_a,
                                    form=attack, must_refuse=False))
            probes.append(Probe(rule.endpoint, method, "B's values as JSON", url_a,
                                json=attack, must_refuse=False))
    return probes


def control_probes(app, a: ProbeOrg) -> list[Probe]:
    """GET every parameterised route with A's own values: proves the ids really resolve."""
    return [
        Probe(rule.endpoint, "GET", "control: A's own values",
              _build(rule, {p: value_for(p, a) for p in rule.arguments}), must_refuse=False)
        for rule in probed_rules(app)
        if rule.arguments and "GET" in _methods(rule) and rule.endpoint not in CONTROL_EXEMPT
    ]


# --------------------------------------------------------------------------------- judging


def readable(data: bytes) -> str:
    """A response body as text to scan; zip archives (exports) are opened and read whole."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "\n".join(
                archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
            )
    return data.decode("utf-8", "replace")


def judge(probe: Probe, response, b: ProbeOrg) -> str | None:
    status = response.status_code
    body = readable(response.get_data())
    location = response.headers.get("Location", "")
    if status >= 500:
        return "server error"
    if b.marker.lower() in (body + location).lower():
        return f"org B's marker {b.marker!r} in the response"
    if not probe.must_refuse:
        return None
    if status in REFUSALS:
        return None
    if 300 <= status < 400:
        b_values = [v for v in b.values.values() if len(v) >= 6]
        if any(v in location for v in b_values):
            return f"redirects into org B ({location})"
        return None
    hint = ""
    if status == 400:
        hint = (f" (if the form was refused as invalid, add FORM_DATA[{probe.endpoint!r}] in "
                "tests/security/probe_registry.py so the probe reaches the object look-up)")
    return f"answered {status}; expected 403 or 404{hint}"


# ------------------------------------------------------------------------------- the client


@dataclass
class ProbeClient:
    """A Flask test client signed in as the owner of org A, which heals itself after probes
    that sign out, switch org or drop the owner's membership."""

    app: object
    a: ProbeOrg
    client: object = None
    csrf: str = ""
    auth_headers: dict = field(default_factory=dict)
    host: str | None = None  # send everything to this host (an org's own host)

    def __post_init__(self) -> None:
        self.client = self._new_client()
        self.sign_in()

    def _new_client(self):
        from tests.support.hosts import host_client

        return host_client(self.app, self.host) if self.host else self.app.test_client()

    def sign_in(self) -> None:
        a = self.a
        factories.execute(
            "INSERT INTO memberships (org_id, user_id, role) VALUES (:o, :u, 'owner')"
            " ON CONFLICT (org_id, user_id) DO UPDATE SET role = 'owner'", o=a.id, u=a.owner.id)
        factories.execute("UPDATE organizations SET status = 'active' WHERE id = :o", o=a.id)
        factories.execute("UPDATE users SET is_active = true, last_org_id = :o WHERE id = :u",
                          o=a.id, u=a.owner.id)
        self.client = self._new_client()
        response = login(self.client, a.owner)
        assert response.headers.get("Location", "").endswith(f"/o/{a.slug}/"), response.status
        self.csrf = csrf_token(self.client, "/switcher")

    def still_in_a(self) -> bool:
        response = self.client.get("/")
        return response.headers.get("Location", "").endswith(f"/o/{self.a.slug}/")

    def heal(self) -> bool:
        """Back to a signed-in owner of A; True when something had to be repaired."""
        if self.still_in_a():
            return False
        self.sign_in()
        return True

    def send(self, probe: Probe):
        headers = {"X-CSRFToken": self.csrf}
        for prefix, scheme in AUTH_SCHEMES.items():
            if probe.url.startswith(prefix):
                key = f"scheme:{prefix}"
                if key not in self.auth_headers:
                    self.auth_headers[key] = scheme(self.a)
                headers.update(self.auth_headers[key])
        kwargs: dict = {"method": probe.method, "headers": headers}
        if probe.json is not None:
            kwargs["json"] = probe.json  # CSRF travels in the header, as htmx/fetch send it
            headers["Accept"] = "application/json"
        elif probe.form is not None:
            kwargs["data"] = {**probe.form, "csrf_token": self.csrf}
        return self.client.open(probe.url, **kwargs)


# ------------------------------------------------------------------------- org B's rows

_GATE_COLUMN = re.compile(r"^\(*\s*(\w+)\s*=\s*\(\s*SELECT\s+app_current_org\(\)", re.I)


def tenant_tables(admin_engine) -> dict[str, str]:
    """Every RLS table and the column holding its org, read from the catalogue (from any
    of its policies that goes through the gate, so one broken policy does not hide it)."""
    with admin_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.relname, p.qual, p.with_check FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relrowsecurity"
            " ORDER BY 1, p.cmd"
        )).all()

    tables: dict[str, str | None] = {}
    person = table_kinds.tables_of(table_kinds.Kind.PERSON)  # RLS on the person: dumped below
    for name, *expressions in rows:
        if name in person:
            continue
        tables.setdefault(name, None)
        for expression in expressions:
            match = _GATE_COLUMN.match(expression or "")
            if match and tables[name] is None:
                tables[name] = match.group(1)
    unknown = sorted(name for name, column in tables.items() if column is None)
    assert not unknown, f"cannot tell which column holds the org in {unknown}: no gate policy"
    return tables


def global_tables_with_org_id(admin_engine, exclude) -> list[str]:
    """Tables outside RLS that still hold per-org rows (provider maps, certificates, ...)."""
    with admin_engine.connect() as conn:
        names = conn.scalars(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id'"
            "      AND NOT a.attisdropped"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"
        ))
        return [name for name in names if name not in exclude]


class RowDump:
    """All of org B's rows in every tenant table, plus B's people in the global tables."""

    def __init__(self, admin_engine, org_id) -> None:
        self.engine = admin_engine
        self.org_id = org_id
        parts = [
            f"SELECT '{table}' AS tbl, to_jsonb(t)::text AS row FROM {table} t"
            f" WHERE t.{column} = :org"
            for table, column in tenant_tables(admin_engine).items()
        ]
        with admin_engine.connect() as conn:
            self.user_ids = list(conn.scalars(
                text("SELECT user_id FROM memberships WHERE org_id = :org"), {"org": org_id}))
        for table in global_tables_with_org_id(admin_engine, exclude=tenant_tables(admin_engine)):
            parts.append(f"SELECT '{table}', to_jsonb(t)::text FROM {table} t"
                         " WHERE t.org_id = :org")
        parts.append("SELECT 'users', to_jsonb(t)::text FROM users t WHERE t.id = ANY(:users)")
        parts.append("SELECT 'user_sessions', to_jsonb(t)::text FROM user_sessions t"
                     " WHERE t.user_id = ANY(:users)")
        from dashboard.table_kinds import PERSON_TABLES

        for table in sorted(PERSON_TABLES - {"users", "user_sessions"}):  # both taken above
            parts.append(f"SELECT '{table}', to_jsonb(t)::text FROM {table} t"
                         " WHERE t.user_id = ANY(:users)")
        self.sql = text(" UNION ALL ".join(parts) + " ORDER BY 1, 2")

    def take(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                self.sql, {"org": self.org_id, "users": self.user_ids})]

    @staticmethod
    def diff(before, after) -> str:
        gone = sorted(set(before) - set(after))
        new = sorted(set(after) - set(before))
        lines = [f"  - {t}: {r}" for t, r in gone] + [f"  + {t}: {r}" for t, r in new]
        return "\n".join(lines[:40])


# ------------------------------------------------------------------------------- one run


@dataclass
class Run:
    probes: list[Probe]
    findings: list[str]
    before: list
    after: list


def run(app, admin_engine, a: ProbeOrg, b: ProbeOrg, *, host: str | None = None,
        keep=lambda probe: True) -> Run:
    """Send every probe (``keep`` picks) as A's owner, on ``host`` when given (an org's own
    host); note each bad answer and each change to B's rows."""
    probes = [p for p in plan(app, a, b) if keep(p)]  # makes every provider's objects first
    dump = RowDump(admin_engine, b.id)
    before = last = dump.take()
    prober = ProbeClient(app, a, host=host)
    findings = []
    for probe in probes:
        try:
            response = prober.send(probe)
        except Exception as exc:  # the app must answer, whatever the input
            findings.append(f"{probe} -> raised {exc!r}")
            prober.heal()
            continue
        problem = judge(probe, response, b)
        response.close()  # ends a streamed response's request context
        if problem:
            findings.append(f"{probe} -> {response.status_code}: {problem}")
        now = dump.take()
        if now != last:
            findings.append(f"{probe} -> {response.status_code}: changed org B's rows:\n"
                            + RowDump.diff(last, now))
            last = now
        prober.heal()
    return Run(probes=probes, findings=findings, before=before, after=dump.take())
