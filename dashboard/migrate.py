"""Apply Alembic migrations as the owner role."""

from __future__ import annotations

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
