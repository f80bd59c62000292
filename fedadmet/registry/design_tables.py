"""Registry tables of design runs: each generation and every candidate, with why it was kept or dropped.

Kept apart from :mod:`fedadmet.registry.tables` (same declarative base, same migrations) so that the
design trail can change without touching the model and federation tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fedadmet.registry.tables import Base, utcnow


class DesignRun(Base):
    """One design run: its objective, starting molecules, seed and budget (enough to run it again)."""

    __tablename__ = "design_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(Integer)
    budget: Mapped[int] = mapped_column(Integer)
    objective: Mapped[dict[str, Any]] = mapped_column(default=dict)
    start: Mapped[list[Any]] = mapped_column(default=list)
    model_uri: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, completed, failed
    message: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    generations: Mapped[list[DesignGeneration]] = relationship(
        back_populates="run", order_by="DesignGeneration.number", cascade="all, delete-orphan"
    )


class DesignGeneration(Base):
    """A finished generation: the population it selected (with scores) and the budget spent up to it."""

    __tablename__ = "design_generations"
    __table_args__ = (UniqueConstraint("run_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("design_runs.id"))
    number: Mapped[int] = mapped_column(Integer)
    budget_used: Mapped[int] = mapped_column(Integer)
    population: Mapped[list[Any]] = mapped_column(default=list)  # [{"smiles": ..., "score": ...}], best first
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run: Mapped[DesignRun] = relationship(back_populates="generations")
    candidates: Mapped[list[DesignCandidate]] = relationship(
        back_populates="generation", order_by="DesignCandidate.position", cascade="all, delete-orphan"
    )


class DesignCandidate(Base):
    """One proposed molecule in its generation: what made it, what became of it and why."""

    __tablename__ = "design_candidates"
    __table_args__ = (Index("ix_design_candidates_generation", "generation_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("design_generations.id"))
    position: Mapped[int] = mapped_column(Integer)
    smiles: Mapped[str] = mapped_column(Text)
    parents: Mapped[list[Any]] = mapped_column(default=list)
    operator: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))  # start, selected, kept, dropped
    reason: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    score_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    score_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # components, values, uncertainties, alerts ...
    generation: Mapped[DesignGeneration] = relationship(back_populates="candidates")
