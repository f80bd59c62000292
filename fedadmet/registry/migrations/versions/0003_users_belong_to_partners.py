"""users may belong to a federation partner

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("partner", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "partner")  # SQLite >= 3.35 drops a column in place; a rebuilt table would break keys
