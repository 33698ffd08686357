"""captures.gallery_opt_out and captures.gallery_hidden: who is shown on the gallery screen

The venue's gallery screen (``/gallery``) cycles through the latest paintings. A guest may
say "don't show me on the gallery" on the result screen (``gallery_opt_out``, the guest's
choice) and the operator may hide any painting (``gallery_hidden``, the operator's): two
columns, because the operator un-hiding a painting must never overrule a guest's "no".
Existing captures are shown (both false, through the server defaults, so the columns are
NOT NULL from the start).

Plain ``ALTER TABLE … ADD COLUMN`` on both engines, never a batch rebuild (the reason is in
0006: a rebuild of ``captures`` would cascade-delete every job, result and order).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("gallery_opt_out", "gallery_hidden"):
        op.add_column(
            "captures",
            sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.false()),
        )


def downgrade() -> None:
    """Back to 0006: ``ALTER TABLE … DROP COLUMN`` (SQLite 3.35 or later; no rebuild)."""
    for column in ("gallery_hidden", "gallery_opt_out"):
        op.drop_column("captures", column)
