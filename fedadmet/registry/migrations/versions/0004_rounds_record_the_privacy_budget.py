"""federation rounds record the differential-privacy budget spent so far

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("federation_rounds", sa.Column("epsilon", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("federation_rounds", "epsilon")
