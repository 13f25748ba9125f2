"""Apply Alembic migrations as the owner role."""

from __future__ import annotations

import importlib.util
import types

from alembic import command
from alembic.config import Config

from dashboard.config import PROJECT_ROOT


def alembic_config(owner_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["database_url"] = owner_url
    return cfg


def upgrade(owner_url: str) -> None:
    # "heads": feature areas add their own branch off the foundation revision.
    command.upgrade(alembic_config(owner_url), "heads")


def revision_module(name: str) -> types.ModuleType:
    """A migration's module by its file name (``0038_gate_dispatch``), for a later migration,
    a test or a bench script that takes SQL from it: the names start with a digit, so no
    import statement reaches them."""
    path = PROJECT_ROOT / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"migration_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
