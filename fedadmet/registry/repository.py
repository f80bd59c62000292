"""Queries and updates of the registry; routes, CLI commands and the federation call these, never raw SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from fedadmet.registry.tables import FederationRound, FederationRun, Model, ModelVersion, utcnow


def publish_version(
    session: Session,
    model_name: str,
    *,
    kind: str,
    artifact_uri: str,
    endpoints: Sequence[str],
    data_hashes: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
) -> ModelVersion:
    """Add the next version of ``model_name`` (created on first use)."""
    model = session.scalar(select(Model).where(Model.name == model_name))
    if model is None:
        model = Model(name=model_name)
        session.add(model)
        session.flush()
    latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)) or 0
    version = ModelVersion(
        model_id=model.id,
        version=latest + 1,
        kind=kind,
        artifact_uri=artifact_uri,
        endpoints=list(endpoints),
        data_hashes=data_hashes or {},
        metrics=metrics or {},
        lineage=lineage or {},
    )
    session.add(version)
    session.flush()
    return version


def list_versions(session: Session) -> list[ModelVersion]:
    query = select(ModelVersion).options(selectinload(ModelVersion.model)).order_by(ModelVersion.created.desc())
    return list(session.scalars(query))


def start_run(session: Session, name: str, strategy: str, secagg: bool, config: dict[str, Any]) -> FederationRun:
    run = FederationRun(name=name, strategy=strategy, secagg=secagg, config=config)
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> FederationRun | None:
    return session.scalar(
        select(FederationRun).options(selectinload(FederationRun.rounds)).where(FederationRun.id == run_id)
    )


def list_runs(session: Session) -> list[FederationRun]:
    query = select(FederationRun).options(selectinload(FederationRun.rounds)).order_by(FederationRun.id.desc())
    return list(session.scalars(query))


def record_round(
    session: Session,
    run_id: int,
    round_number: int,
    partners: Sequence[str],
    metrics: dict[str, Any],
    excluded: dict[str, str] | None = None,
    bytes_sent: int = 0,
) -> FederationRound:
    """Store one round; recording the same round again (after a coordinator restart) replaces it."""
    row = get_round(session, run_id, round_number) or FederationRound(run_id=run_id, round=round_number)
    row.partners, row.metrics, row.excluded, row.bytes_sent = list(partners), metrics, excluded or {}, bytes_sent
    session.add(row)
    session.flush()
    return row


def get_round(session: Session, run_id: int, round_number: int) -> FederationRound | None:
    return session.scalar(
        select(FederationRound).where(FederationRound.run_id == run_id, FederationRound.round == round_number)
    )


def finish_run(
    session: Session, run_id: int, status: str, model_version_id: int | None = None, error: str = ""
) -> None:
    run = session.get(FederationRun, run_id)
    if run is None:
        raise KeyError(f"no federation run {run_id}")
    run.status, run.error, run.finished, run.model_version_id = status, error, utcnow(), model_version_id
