"""Run Alembic migrations programmatically (``stylebooth db upgrade`` and at startup).

On PostgreSQL several processes may start at once against one fresh database (booth servers
and render workers of a fleet each upgrade at start). Alembic itself does not guard against
that: two of them create ``alembic_version`` or the same table and one fails with a
UniqueViolation. So an upgrade there first takes a transaction-level advisory lock and runs
Alembic on that same connection, in that same transaction: the others wait for the lock,
then find the schema current and do nothing. SQLite needs none of it (a writer locks the
whole file, and the booth runs one server)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

MIGRATIONS = Path(__file__).with_name("migrations")

# The key of the advisory lock migrations hold on PostgreSQL: any constant the application
# uses for nothing else ("SBMIGRAT" as bytes).
MIGRATION_LOCK_KEY = 0x53424D4947524154


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision``; safe to run from several processes
    at once on PostgreSQL (see the module's docstring)."""
    from db.session import make_engine

    engine = make_engine(url)  # on SQLite, creates the file's directory
    try:
        if engine.dialect.name != "postgresql":
            engine.dispose()
            command.upgrade(alembic_config(url), revision)
            return
        config = alembic_config(url)
        # One transaction: the lock is released when the migrations commit (or roll back),
        # never before, and never left behind on a pooled connection.
        with engine.begin() as connection:
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from db.session import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision
