"""prints: each submission of a photo order to the booth's CUPS printer

On-site photo prints (issue 14) go from an order's print files to a CUPS queue. The spooler
records every submission as a row (``seq`` 1 for the first, a reprint the next number, so
an order's print history is kept and two booth servers racing to send the same order meet
at the unique (order_id, seq) index: one of them inserts, the other backs off), with the
printer, the copies, the CUPS job id, CUPS's state and reasons, and the times. Rows go with
their order (ON DELETE CASCADE: a guest's purge deletes orders).

A plain ``CREATE TABLE`` on both engines: a new table, nothing to rebuild. The state has its
own index: the spooler looks up the unfinished submissions every couple of seconds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prints",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column(
            "order_id",
            sa.String(length=32),
            sa.ForeignKey("orders.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("printer", sa.String(length=128), nullable=False),
        sa.Column("copies", sa.Integer(), nullable=False),
        sa.Column("cups_job_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.UniqueConstraint("order_id", "seq", name="uq_prints_order_seq"),
    )
    op.create_index("ix_prints_order_id", "prints", ["order_id"])
    op.create_index("ix_prints_state", "prints", ["state"])


def downgrade() -> None:
    """Back to 0007: the table goes (photo print history with it)."""
    op.drop_index("ix_prints_state", table_name="prints")
    op.drop_index("ix_prints_order_id", table_name="prints")
    op.drop_table("prints")
