"""captures.booth_id: the booth each capture was taken at

Several booth servers (or kiosks) may share one database; each capture records the booth it
came from (``settings.booth_id``) so the admin page can count and list jobs per booth.
Captures made before this revision get ``booth`` (the setting's default), through the
column's server default, so the column is NOT NULL from the start.

A plain ``ALTER TABLE … ADD COLUMN`` on both engines, never a batch rebuild: rebuilding
``captures`` with SQLite's foreign keys on would run the ON DELETE CASCADE of every job,
result and order on the way (DROP TABLE runs them). SQLite adds a NOT NULL column with a
constant default in place; PostgreSQL fills existing rows from the default.

No index: the per-booth counts join the active jobs (``ix_jobs_status``) to their captures
by primary key, and nothing looks captures up by booth.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "captures",
        sa.Column("booth_id", sa.String(length=64), nullable=False, server_default="booth"),
    )


def downgrade() -> None:
    """Back to 0005: ``ALTER TABLE … DROP COLUMN`` (SQLite 3.35 or later; no rebuild, which
    would cascade-delete every capture's jobs)."""
    op.drop_column("captures", "booth_id")
