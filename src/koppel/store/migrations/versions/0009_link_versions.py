"""The version stamp a create answered, kept on the link for the side koppel created the record
on: a change read back with that stamp is koppel's own echo and is skipped before any comparison.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("erp_version", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("crm_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("crm_version")
        batch.drop_column("erp_version")
