"""job claim index, one result per kind

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:23:52.689840
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_claim", ["status", "mode", "created_at"], unique=False)

    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_results_capture_kind", ["capture_id", "kind"])


def downgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_constraint("uq_results_capture_kind", type_="unique")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claim")
