"""Match proposals: pairs of records both systems already hold (from `koppel match`, or a
unique-name collision), waiting for a person to couple them or keep them apart.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "match_proposals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("erp_id", sa.String(length=200), nullable=False),
        sa.Column("crm_id", sa.String(length=200), nullable=False),
        sa.Column("copy_side", sa.String(length=10), nullable=True),
        sa.Column("copy_id", sa.String(length=200), nullable=True),
        sa.Column("field", sa.String(length=80), nullable=True),
        sa.Column("alias", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_match_proposals_status", "match_proposals", ["entity", "status"])


def downgrade() -> None:
    op.drop_index("ix_match_proposals_status", "match_proposals")
    op.drop_table("match_proposals")
