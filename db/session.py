"""Engine and session factory. SQLite gets WAL, foreign keys and a busy timeout; PostgreSQL
gets a connect timeout, a pre-ping of pooled connections and an application name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

# How long a connection waits for another's write lock before SQLite says "database is
# locked". The render worker and the command-line tools can afford to wait long; the
# server's guest path passes a short one so a guest hears "busy, try again" instead of a
# hung request (see kiosk/dbio.py).
DEFAULT_BUSY_TIMEOUT_S = 30.0

# PostgreSQL: how long opening a connection may take before it is an error (a database host
# that is down or unreachable stops a worker's claim with a message, not a hang of minutes),
# and the name a connection shows in pg_stat_activity (an operator tells the booth's from
# others'). Both may be set in the URL's query instead (``?connect_timeout=…``).
PG_CONNECT_TIMEOUT_S = 10
PG_APPLICATION_NAME = "stylebooth"


def make_engine(url: str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> Engine:
    """An engine for ``url``; on SQLite, every connection waits at most ``busy_timeout_s``
    for a lock held by another connection or process (PostgreSQL locks rows, not the
    database: a writer waits only for the rows it needs)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        query = parsed.query
        pg_args: dict[str, Any] = {}
        if "connect_timeout" not in query:
            pg_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        if "application_name" not in query:
            pg_args["application_name"] = PG_APPLICATION_NAME
        # No pool_pre_ping: its SELECT on every checkout doubled an idle worker's
        # transactions and halved the claims a second. A connection the server dropped (a
        # restart, a failover) fails one call, SQLAlchemy then discards the whole pool, and
        # the caller's retry (a lane's backoff, a guest's 503 with Retry-After) gets a fresh
        # one. pool_recycle keeps connections younger than a typical idle timeout.
        return create_engine(url, connect_args=pg_args, pool_recycle=1800)
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s} if sqlite else {})
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
