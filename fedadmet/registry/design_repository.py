"""Queries and updates of design runs; the design workflow calls these, never raw SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from fedadmet.registry.design_tables import DesignCandidate, DesignGeneration, DesignRun
from fedadmet.registry.tables import utcnow

DESIGN_RUN_STATES = ("running", "completed", "failed")


def create_design_run(
    session: Session,
    *,
    name: str,
    seed: int,
    budget: int,
    objective: dict[str, Any],
    start: Sequence[str],
    model_uri: str,
    user_id: int | None = None,
) -> DesignRun:
    run = DesignRun(
        name=name,
        seed=seed,
        budget=budget,
        objective=objective,
        start=list(start),
        model_uri=model_uri,
        user_id=user_id,
    )
    session.add(run)
    session.flush()
    return run


def get_design_run(session: Session, run_id: int) -> DesignRun | None:
    """The run with every generation and candidate loaded, to read after its session ends."""
    query = (
        select(DesignRun)
        .options(selectinload(DesignRun.generations).selectinload(DesignGeneration.candidates))
        .where(DesignRun.id == run_id)
    )
    return session.scalar(query)


def list_design_runs(
    session: Session, limit: int | None = None, user_id: int | None = None, with_unowned: bool = False
) -> list[DesignRun]:
    """Runs, newest first (only ``user_id``'s where given, and with ``with_unowned`` those made without a
    key, at the operator's machine)."""
    query = select(DesignRun).order_by(DesignRun.id.desc()).limit(limit)
    if user_id is not None:
        owned = DesignRun.user_id == user_id
        query = query.where(or_(owned, DesignRun.user_id.is_(None)) if with_unowned else owned)
    return list(session.scalars(query))


def count_candidates(session: Session, run_id: int) -> int:
    query = select(func.count()).select_from(DesignCandidate).join(DesignGeneration)
    return session.scalar(query.where(DesignGeneration.run_id == run_id)) or 0


def record_design_generation(
    session: Session,
    run_id: int,
    number: int,
    *,
    budget_used: int,
    population: list[dict[str, Any]],
    candidates: Sequence[dict[str, Any]],
) -> DesignGeneration:
    """Store one generation with its candidates (each a dict of :class:`DesignCandidate` fields but the
    position); recording the same generation again (after a crash between its steps) replaces it."""
    old = session.scalar(
        select(DesignGeneration).where(DesignGeneration.run_id == run_id, DesignGeneration.number == number)
    )
    if old is not None:
        session.execute(delete(DesignCandidate).where(DesignCandidate.generation_id == old.id))
        session.delete(old)
        session.flush()
    generation = DesignGeneration(run_id=run_id, number=number, budget_used=budget_used, population=population)
    generation.candidates = [DesignCandidate(position=index, **fields) for index, fields in enumerate(candidates)]
    session.add(generation)
    session.flush()
    return generation


def finish_design_run(session: Session, run_id: int, status: str, message: str = "") -> None:
    if status not in DESIGN_RUN_STATES:
        raise ValueError(f"unknown design run status {status!r}")
    run = session.get(DesignRun, run_id)
    if run is None:
        raise KeyError(f"no design run {run_id}")
    run.status, run.message = status, message
    run.finished = None if status == "running" else utcnow()
