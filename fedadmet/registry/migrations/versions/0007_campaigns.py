"""lab-in-the-loop campaigns: rounds, picks, ingested results files and measurements

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _created() -> sa.Column:
    return sa.Column("created", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("partner", sa.String(200), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("pool_source", sa.Text(), nullable=False),
        sa.Column("pool_sha256", sa.String(64), nullable=False),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("model_uri", sa.Text(), nullable=False),
        _created(),
    )
    op.create_table(
        "campaign_rounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(40), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("calibration", sa.JSON(), nullable=False),
        sa.Column("order_files", sa.JSON(), nullable=False),
        _created(),
        sa.UniqueConstraint("campaign_id", "round"),
    )
    op.create_table(
        "campaign_picks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("round_id", sa.Integer(), sa.ForeignKey("campaign_rounds.id"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("pool_row", sa.Integer(), nullable=False),
        sa.Column("compound_id", sa.String(200), nullable=False),
        sa.Column("smiles", sa.Text(), nullable=False),
        sa.Column("score_mean", sa.Float(), nullable=True),
        sa.Column("score_std", sa.Float(), nullable=True),
        sa.Column("acquisition_value", sa.Float(), nullable=True),
        sa.Column("predicted", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.UniqueConstraint("campaign_id", "compound_id"),
    )
    op.create_table(
        "campaign_ingests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("rejects", sa.JSON(), nullable=False),
        _created(),
        sa.UniqueConstraint("campaign_id", "sha256"),
    )
    op.create_table(
        "campaign_measurements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("ingest_id", sa.Integer(), sa.ForeignKey("campaign_ingests.id"), nullable=False),
        sa.Column("pick_id", sa.Integer(), sa.ForeignKey("campaign_picks.id"), nullable=True),
        sa.Column("compound_id", sa.String(200), nullable=False),
        sa.Column("column", sa.String(200), nullable=False),
        sa.Column("relation", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(50), nullable=False),
        sa.Column("source_row", sa.Integer(), nullable=False),
        _created(),
    )
    op.create_index("ix_campaign_measurements_campaign", "campaign_measurements", ["campaign_id", "compound_id"])


def downgrade() -> None:
    op.drop_index("ix_campaign_measurements_campaign", "campaign_measurements")
    for table in ("campaign_measurements", "campaign_ingests", "campaign_picks", "campaign_rounds", "campaigns"):
        op.drop_table(table)
