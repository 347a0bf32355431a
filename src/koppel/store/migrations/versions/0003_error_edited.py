"""Errors remember whether an operator edited their payload (a retry then writes that payload).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("errors") as batch:
        batch.add_column(sa.Column("edited", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("errors") as batch:
        batch.drop_column("edited")
