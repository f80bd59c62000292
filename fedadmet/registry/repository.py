"""Queries and updates of the registry; routes, CLI commands and the federation call these, never raw SQL."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from fedadmet.exceptions import InputError
from fedadmet.names import check_partner_name, check_user_name
from fedadmet.registry.tables import (
    ApiKey,
    FederationRound,
    FederationRun,
    Model,
    ModelVersion,
    PredictionJob,
    User,
    utcnow,
)

KEY_PREFIX = "fa_"
KEY_PREFIX_LENGTH = 8  # characters of a key kept in the clear, to name it in listings and revocations
JOB_STATES = ("queued", "running", "completed", "failed", "cancelled", "deleted")
WITHDRAWN_JOB_STATES = ("cancelled", "deleted")  # final: the owner stopped the job or deleted its files


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


def version_with_hash(session: Session, name: str, digest: str) -> ModelVersion | None:
    """The first version whose data hashes record ``digest`` under ``name`` (e.g. its model.json's)."""
    for version in list_versions(session):
        if version.data_hashes.get(name) == digest:
            return version
    return None


def start_run(session: Session, name: str, strategy: str, secagg: bool, config: dict[str, Any]) -> FederationRun:
    run = FederationRun(name=name, strategy=strategy, secagg=secagg, config=config)
    session.add(run)
    session.flush()
    return run


# A run is read with its rounds and published version, so that it can be shown after its session ends.
_RUN_WITH_RESULTS = (selectinload(FederationRun.rounds), selectinload(FederationRun.model_version))


def get_run(session: Session, run_id: int) -> FederationRun | None:
    return session.scalar(select(FederationRun).options(*_RUN_WITH_RESULTS).where(FederationRun.id == run_id))


def list_runs(session: Session, limit: int | None = None, offset: int = 0) -> list[FederationRun]:
    """Runs, newest first; ``limit`` and ``offset`` page through them."""
    query = select(FederationRun).options(*_RUN_WITH_RESULTS).order_by(FederationRun.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_runs(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(FederationRun)) or 0


def record_round(
    session: Session,
    run_id: int,
    round_number: int,
    partners: Sequence[str],
    metrics: dict[str, Any],
    excluded: dict[str, str] | None = None,
    bytes_sent: int = 0,
    epsilon: float | None = None,
) -> FederationRound:
    """Store one round (with the DP budget spent up to it, if the run is private); recording the same
    round again (after a coordinator restart) replaces it."""
    row = get_round(session, run_id, round_number) or FederationRound(run_id=run_id, round=round_number)
    row.partners, row.metrics, row.excluded, row.bytes_sent = list(partners), metrics, excluded or {}, bytes_sent
    row.epsilon = epsilon
    session.add(row)
    session.flush()
    return row


def get_round(session: Session, run_id: int, round_number: int) -> FederationRound | None:
    return session.scalar(
        select(FederationRound).where(FederationRound.run_id == run_id, FederationRound.round == round_number)
    )


def finish_run(
    session: Session,
    run_id: int,
    status: str,
    model_version_id: int | None = None,
    error: str = "",
    partner_failures: Sequence[dict[str, str]] = (),
) -> None:
    """End a run; a failed one with its reason and the partners' failures behind it ({partner, stage, reason})."""
    run = session.get(FederationRun, run_id)
    if run is None:
        raise KeyError(f"no federation run {run_id}")
    run.status, run.error, run.finished, run.model_version_id = status, error, utcnow(), model_version_id
    run.partner_failures = [dict(failure) for failure in partner_failures]


def reopen_run(session: Session, run_id: int) -> None:
    """Mark a run that is carried on (resumed) as running again, clearing the reason it stopped."""
    run = session.get(FederationRun, run_id)
    if run is None:
        raise KeyError(f"no federation run {run_id}")
    run.status, run.error, run.finished, run.partner_failures = "running", "", None, []


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def create_api_key(session: Session, user_name: str, partner: str | None = None) -> tuple[str, ApiKey]:
    """A new key for ``user_name`` (created on first use, belonging to ``partner`` if given). The plain key
    is returned once and never stored. A user keeps the partner it was created with: asking for another
    is refused, since the key would see what the user was not meant to."""
    check_user_name(user_name)
    if partner is not None:
        check_partner_name(partner)  # the rules `data prepare` applies to the name
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        user = User(name=user_name, partner=partner)
        session.add(user)
        session.flush()
    elif partner is not None and user.partner != partner:
        belongs = f"partner {user.partner!r}" if user.partner else "no partner (it sees every partner's metrics)"
        raise InputError(
            f"user {user_name!r} already exists and belongs to {belongs}",
            expected=f"a new user name for partner {partner!r}, or no partner option for another key of this user",
        )
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    row = ApiKey(user_id=user.id, prefix=key[:KEY_PREFIX_LENGTH], key_hash=hash_api_key(key))
    session.add(row)
    session.flush()
    return key, row


def known_partners(session: Session) -> set[str]:
    """Every partner name a federation run recorded, as taking part or as excluded."""
    rows = session.execute(select(FederationRound.partners, FederationRound.excluded))
    return {name for partners, excluded in rows for name in [*partners, *excluded]}


def user_for_key(session: Session, key: str) -> User | None:
    """The user a valid, unrevoked key belongs to; None for anything else."""
    row = session.scalar(select(ApiKey).options(selectinload(ApiKey.user)).where(ApiKey.key_hash == hash_api_key(key)))
    return row.user if row is not None and not row.revoked else None


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key (revoked ones too), oldest first, with its user loaded."""
    return list(session.scalars(select(ApiKey).options(selectinload(ApiKey.user)).order_by(ApiKey.created)))


def revoke_api_keys(session: Session, key_or_prefix: str) -> int:
    """Revoke the key given whole, or every active key with this :data:`KEY_PREFIX_LENGTH`-character
    prefix; a shorter text matches nothing (``fa_`` alone would otherwise revoke every key)."""
    if len(key_or_prefix) > KEY_PREFIX_LENGTH:
        condition = ApiKey.key_hash == hash_api_key(key_or_prefix)
    else:
        condition = ApiKey.prefix == key_or_prefix
    rows = list(session.scalars(select(ApiKey).where(condition, ApiKey.revoked.is_(False))))
    for row in rows:
        row.revoked = True
    return len(rows)


def create_job(
    session: Session, job_id: str, *, filename: str, folder: str, model_uri: str, n_rows: int, user_id: int | None
) -> PredictionJob:
    job = PredictionJob(
        id=job_id, filename=filename, folder=folder, model_uri=model_uri, n_rows=n_rows, user_id=user_id
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> PredictionJob | None:
    return session.get(PredictionJob, job_id)


def jobs_in_state(session: Session, *states: str) -> list[PredictionJob]:
    query = select(PredictionJob).where(PredictionJob.status.in_(states)).order_by(PredictionJob.created)
    return list(session.scalars(query))


def list_jobs(session: Session, user_id: int | None, limit: int, offset: int = 0) -> list[PredictionJob]:
    """The user's jobs, newest first: ``limit`` of them from ``offset``."""
    query = (
        select(PredictionJob)
        .where(PredictionJob.user_id == user_id)  # None compares as IS NULL
        .order_by(PredictionJob.created.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def count_jobs(session: Session, user_id: int | None) -> int:
    query = select(func.count()).select_from(PredictionJob).where(PredictionJob.user_id == user_id)
    return session.scalar(query) or 0


def withdraw_job(session: Session, job_id: str) -> tuple[PredictionJob, str] | None:
    """Cancel an unfinished job, or mark a finished one's files deleted; None if there is no such job.

    Returns the job and the status it was withdrawn from ("queued" or "running": cancelled; "completed"
    or "failed": deleted; a withdrawn status: nothing changed), decided by conditional UPDATEs, so that a
    worker finishing the job at the same moment cannot be overwritten or overwrite it."""
    job = session.get(PredictionJob, job_id, populate_existing=True)
    if job is None:
        return None
    progress = f"after {job.n_done} of {job.n_rows} rows" if job.n_done else "before it started"
    outcomes = {
        "queued": ("cancelled", f"cancelled by its owner {progress}"),
        "running": ("cancelled", f"cancelled by its owner {progress}"),
        "completed": ("deleted", "completed; its files were deleted by its owner"),
        "failed": ("deleted", f"failed ({job.message}); its files were deleted by its owner"),
    }
    for previous, (status, message) in outcomes.items():
        if _update_where(session, job_id, PredictionJob.status == previous, status=status, message=message):
            break
    else:
        previous = job.status  # withdrawn already
    session.refresh(job)
    return job, previous


def update_job(session: Session, job_id: str, **changes: Any) -> bool:
    """Set progress or status fields of a job; ``status`` must be one of :data:`JOB_STATES`.

    A job its owner withdrew stays as it is (one conditional UPDATE, whatever runs beside it): False
    tells a worker still busy with it to stop."""
    if changes.get("status", "queued") not in JOB_STATES:
        raise ValueError(f"unknown job status {changes['status']!r}")
    if _update_where(session, job_id, PredictionJob.status.not_in(WITHDRAWN_JOB_STATES), **changes):
        return True
    if session.get(PredictionJob, job_id) is None:
        raise KeyError(f"no prediction job {job_id}")
    return False


def _update_where(session: Session, job_id: str, condition: Any, **changes: Any) -> bool:
    """Change the job only where ``condition`` holds, atomically; whether it did."""
    statement = (
        update(PredictionJob)
        .where(PredictionJob.id == job_id, condition)
        .values(**changes, updated=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(statement).rowcount == 1
