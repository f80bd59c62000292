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


class User(Base):
    """Someone (a chemist, a service, a partner's pipeline) who calls the API with one or more keys.

    A user who belongs to a federation partner sees that partner's shared metrics and the consortium's
    mean, not the other partners' own; a user without a partner (the operator, the hosting site) sees all."""

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
