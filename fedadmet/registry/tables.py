"""Registry tables (SQLAlchemy 2 declarative). Change them only together with a new Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time with its zone: SQLite hands back stored times without it, and they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class Model(Base):
    """A named model line (e.g. ``consortium-admet``) whose versions are published over time."""

    __tablename__ = "models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    versions: Mapped[list[ModelVersion]] = relationship(back_populates="model", order_by="ModelVersion.version")


class ModelVersion(Base):
    """One published artifact with what it predicts, what it was made from, how good it is and its lineage."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # "centralised" or "federated"
    artifact_uri: Mapped[str] = mapped_column(Text)
    endpoints: Mapped[list[Any]] = mapped_column(default=list)
    data_hashes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model: Mapped[Model] = relationship(back_populates="versions")


class FederationRun(Base):
    __tablename__ = "federation_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    strategy: Mapped[str] = mapped_column(String(40))
    secagg: Mapped[bool] = mapped_column(Boolean)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, completed, failed, interrupted
    error: Mapped[str] = mapped_column(Text, default="")
    # The partners' failures behind a failed run: [{"partner", "stage", "reason"}], so that each partner's
    # user can be shown its own and nobody else's.
    partner_failures: Mapped[list[Any]] = mapped_column(default=list)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), nullable=True)
    model_version: Mapped[ModelVersion | None] = relationship()  # what the run published when it completed
    rounds: Mapped[list[FederationRound]] = relationship(back_populates="run", order_by="FederationRound.round")


class FederationRound(Base):
    """What one round aggregated: who took part, who dropped out, and the metrics partners chose to share."""

    __tablename__ = "federation_rounds"
    __table_args__ = (UniqueConstraint("run_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("federation_runs.id"))
    round: Mapped[int] = mapped_column(Integer)
    partners: Mapped[list[Any]] = mapped_column(default=list)
    excluded: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    epsilon: Mapped[float | None] = mapped_column(Float, nullable=True)  # DP budget spent up to this round
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run: Mapped[FederationRun] = relationship(back_populates="rounds")


NO_PARTNER = ""  # a user who belongs to no partner: no partner's own metrics, no files on the server


class User(Base):
    """Someone (a chemist, a service, a partner's pipeline) who calls the API with one or more keys.

    A user who belongs to a federation partner sees that partner's shared metrics and the consortium's
    mean, not the other partners' own; a user of no partner (:data:`NO_PARTNER`, what a key is made for
    by default) sees only the consortium's means; the operator (partner None, made only when asked for)
    sees all."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    partner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(Base):
    """Only a SHA-256 of the key is stored; the key itself is shown once, when it is made."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user: Mapped[User] = relationship(back_populates="keys")


class PredictionJob(Base):
    """A batch upload being profiled in the background; its files live under the job folder."""

    __tablename__ = "prediction_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued, running, completed, failed
    n_rows: Mapped[int] = mapped_column(Integer, default=0)
    n_done: Mapped[int] = mapped_column(Integer, default=0)
    n_errors: Mapped[int] = mapped_column(Integer, default=0)
    folder: Mapped[str] = mapped_column(Text)
    model_uri: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Campaign(Base):
    """A design-make-test campaign: its spec (objective, constraints, strategy), where its pool and
    order files live, and the partner it belongs to (None: the operator's, seen by every key)."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    partner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    pool_source: Mapped[str] = mapped_column(Text)
    pool_sha256: Mapped[str] = mapped_column(String(64))
    pool_size: Mapped[int] = mapped_column(Integer)
    folder: Mapped[str] = mapped_column(Text)
    model_uri: Mapped[str] = mapped_column(Text)  # the default model whose predictions are the prior
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rounds: Mapped[list[CampaignRound]] = relationship(back_populates="campaign", order_by="CampaignRound.round")


class CampaignRound(Base):
    """One proposal: the model that made it and, once its picks are measured, how well its uncertainty held."""

    __tablename__ = "campaign_rounds"
    __table_args__ = (UniqueConstraint("campaign_id", "round"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    round: Mapped[int] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(40))
    model: Mapped[dict[str, Any]] = mapped_column(default=dict)  # surrogate kind, labels per column, candidates
    calibration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    order_files: Mapped[list[Any]] = mapped_column(default=list)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    campaign: Mapped[Campaign] = relationship(back_populates="rounds")
    picks: Mapped[list[CampaignPick]] = relationship(back_populates="round", order_by="CampaignPick.rank")


class CampaignPick(Base):
    """A molecule ordered in a round, with what was predicted for it and why it was picked; a compound
    is picked at most once per campaign."""

    __tablename__ = "campaign_picks"
    __table_args__ = (UniqueConstraint("campaign_id", "compound_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    round_id: Mapped[int] = mapped_column(ForeignKey("campaign_rounds.id"))
    rank: Mapped[int] = mapped_column(Integer)
    pool_row: Mapped[int] = mapped_column(Integer)
    compound_id: Mapped[str] = mapped_column(String(200))
    smiles: Mapped[str] = mapped_column(Text)
    score_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    score_std: Mapped[float | None] = mapped_column(Float, nullable=True)
    acquisition_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted: Mapped[dict[str, Any]] = mapped_column(default=dict)  # column -> {"mean", "std"} (model scale)
    reason: Mapped[str] = mapped_column(Text, default="")
    round: Mapped[CampaignRound] = relationship(back_populates="picks")


class CampaignIngest(Base):
    """One results file taken in: its hash (the same file is not taken twice), what was kept and rejected."""

    __tablename__ = "campaign_ingests"
    __table_args__ = (UniqueConstraint("campaign_id", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    stored: Mapped[int] = mapped_column(Integer)
    rejects: Mapped[list[Any]] = mapped_column(default=list)  # [{"row": 1-based, "reason": ...}]
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CampaignMeasurement(Base):
    """One measured value (replicates are separate rows) in the column's units, traced to its file and row."""

    __tablename__ = "campaign_measurements"
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    ingest_id: Mapped[int] = mapped_column(ForeignKey("campaign_ingests.id"))
    pick_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_picks.id"), nullable=True)
    compound_id: Mapped[str] = mapped_column(String(200))
    column: Mapped[str] = mapped_column(String(200))
    relation: Mapped[int] = mapped_column(Integer)  # -1, 0, +1 for <, =, >
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(50), default="")
    source_row: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
