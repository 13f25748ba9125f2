"""Routes, services and templates never know the tier: only the place that opens the
request's transaction (tenancy.py) and the tiers package do.

Reads every module of ``dashboard/`` (imports by AST, SQL and names by text) and every
template: a reference to the tiers package, the routing table, ``search_path`` or a tier name
outside the allowed places fails with the file and what it named.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from dashboard.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "dashboard"
# The one place that opens transactions, the package itself, and the wiring that mounts it.
ALLOWED = {
    "dashboard/tenancy.py": "opens every transaction on the org's tier",
    "dashboard/cell_reads.py": "reads an org's cell tables on its tier (tenancy.py's, split off)",
    "dashboard/table_kinds.py": "lists the tiers' own tables among every table's kind",
    "dashboard/db.py": "makes the engines of dedicated databases next to the shared one",
    "dashboard/__init__.py": "create_app() calls tiers.web.init_app (wiring only)",
    "dashboard/cli.py": "mounts `tenantdesk tenants` and the tier rollout of `migrate`",
}
ALLOWED_TEMPLATES = {"base.html": "shows the move banner when tiers says so (a flag)"}
WORDS = re.compile(
    r"tenant_routes|tenant_moves|app_tenant_route|search_path|tier_read_only"
    r"|\bdashboard\.tiers\b|\bschema_name\b|\bTierBehind\b"
)


def _allowed(path: Path) -> bool:
    rel = path.relative_to(PROJECT_ROOT).as_posix()
    return rel in ALLOWED or rel.startswith("dashboard/tiers/")


def _imports_tiers(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
            node.module == "dashboard.tiers" or node.module.startswith("dashboard.tiers.")
            or (node.module == "dashboard" and any(a.name == "tiers" for a in node.names))
        ):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("dashboard.tiers")]
    return found


def test_no_module_outside_the_tenancy_layer_knows_the_tier():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _allowed(path):
            continue
        source = path.read_text()
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        offenders += [f"{rel} {hit}" for hit in _imports_tiers(ast.parse(source))]
        offenders += [f"{rel}: names {m.group(0)!r}" for m in WORDS.finditer(source)]
    # Other areas' SECURITY DEFINER functions pin search_path in migrations: that is fine,
    # and the catalogue keeps the tables they read in the shared control plane.
    assert not offenders, "only tenancy.py and dashboard/tiers/ may know tiers:\n  " + "\n  ".join(
        offenders
    )


def test_no_template_knows_the_tier():
    offenders = []
    root = PROJECT_ROOT / "templates"
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root).as_posix()
        if rel in ALLOWED_TEMPLATES or rel.startswith("tiers/"):
            continue
        offenders += [f"{rel}: {m.group(0)!r}" for m in WORDS.finditer(path.read_text())]
        offenders += [f"{rel}: includes tiers/" for _ in re.finditer(r"tiers/", path.read_text())]
    assert not offenders, offenders


def test_the_guard_bites():
    tree = ast.parse("from dashboard.tiers import routing\nimport dashboard.tiers.moves\n")
    assert len(_imports_tiers(tree)) == 2
    assert WORDS.search("session.execute(text('SET LOCAL search_path = x'))")
    assert _allowed(PACKAGE / "tiers" / "routing.py")
    assert not _allowed(PACKAGE / "usage" / "service.py")
