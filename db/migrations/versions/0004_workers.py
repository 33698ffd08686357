"""workers table: one liveness record per render worker; jobs reference their worker

Replaces the beacon files in DATA_DIR/workers, the per-job heartbeat and the pid probes.
Plain ALTERs, no table rebuild: rebuilding ``jobs`` with SQLite's foreign keys on would
null every result's ``job_id`` on the way (DROP TABLE runs the ON DELETE actions). A job
running at upgrade time has no worker row, so the next worker requeues it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("parent", sa.String(length=300), nullable=True),
        sa.Column("device", sa.String(length=16), nullable=True),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("busy", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "heartbeat_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # Inline REFERENCES: SQLite cannot add a constraint to an existing table (PostgreSQL
    # reads the same statement).
    op.execute(
        "ALTER TABLE jobs ADD COLUMN worker_id VARCHAR(32) "
        "REFERENCES workers (id) ON DELETE SET NULL"
    )
    op.create_index("ix_jobs_worker_id", "jobs", ["worker_id"], unique=False)
    op.drop_column("jobs", "heartbeat_at")
    op.drop_column("jobs", "worker")


def downgrade() -> None:
    """Back to 0003. SQLite cannot drop a column that a foreign key uses, so ``jobs`` is
    rebuilt: on SQLite with foreign keys on, results lose their ``job_id`` (never read by
    0003's code)."""
    op.add_column("jobs", sa.Column("worker", sa.String(length=128), nullable=True))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_jobs_worker_id", table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("worker_id")
    op.drop_table("workers")
