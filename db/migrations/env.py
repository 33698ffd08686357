"""Alembic's environment: migrate on the connection ``db.migrate.upgrade`` hands over
(``config.attributes["connection"]``, on PostgreSQL: the one holding the migration lock), or
else on an engine of its own for ``sqlalchemy.url``."""

from alembic import context
from sqlalchemy import Connection

from db.models import Base
from db.session import make_engine

config = context.config


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic's sqlalchemy.url is not set (db.migrate sets it)")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    given = config.attributes.get("connection")
    if given is not None:
        _migrate(given)  # the caller's transaction: the caller commits
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()


run_migrations()
