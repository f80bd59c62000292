"""What a design run aims for, read from a TOML file and checked before any molecule is proposed.

Example::

    [[goal]]
    endpoint = "hERG"
    direction = "lower"        # "higher", "lower" or "range" (a target value: a narrow range)
    low = 0.2                  # for higher/lower: the sigmoid's 0.5 point lies halfway between low and high
    high = 0.5
    weight = 2.0

    [alerts]
    mode = "soft"              # "hard" drops a molecule with any alert; "soft" multiplies by penalty per alert
    penalty = 0.8

    [similarity]
    min_tanimoto = 0.4         # hard floor to the nearest starting molecule (0 turns it off)
    weight = 1.0

    [size]
    min_heavy_atom_ratio = 0.75  # heavy atoms relative to the most similar starting molecule (hard limits)
    max_heavy_atom_ratio = 1.3

    [limits]
    enforce = true             # molecules meeting every goal (desirability >= 0.5) and in domain rank first
    min_desirability = 0.5

    [selection]
    population = 16
    batch = 32
    generators = ["graph-ga"]
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fedadmet.exceptions import InputError

Direction = Literal["higher", "lower", "range"]  # a target value is a narrow range
Shape = Literal["sigmoid", "step"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Goal(_Strict):
    """One endpoint's desirability: REINVENT-style transforms mapping a predicted value onto 0..1."""

    endpoint: str
    direction: Direction
    low: float
    high: float
    weight: float = Field(default=1.0, gt=0)
    shape: Shape = "sigmoid"
    steepness: float = Field(default=0.25, gt=0, description="Sigmoid slope factor (REINVENT's k).")

    @model_validator(mode="after")
    def _ordered(self) -> Goal:
        if not self.low < self.high:
            raise ValueError(f"goal {self.endpoint}: low ({self.low}) must be below high ({self.high})")
        return self


class AlertPolicy(_Strict):
    mode: Literal["hard", "soft", "ignore"] = "soft"
    penalty: float = Field(default=0.8, gt=0, le=1, description="Soft mode: factor applied once per alert.")


class SimilarityPolicy(_Strict):
    min_tanimoto: float = Field(default=0.0, ge=0, le=1, description="Hard floor to the nearest start molecule.")
    weight: float = Field(default=0.0, ge=0, description="Weight of the similarity term in the geometric mean.")


class SizePolicy(_Strict):
    """Hard limits on a design's heavy atoms relative to the most similar start molecule: a lead
    optimisation that lowers a liability by deleting half of the lead has not optimised the lead."""

    min_heavy_atom_ratio: float = Field(default=0.0, ge=0, le=1, description="0 turns the floor off.")
    max_heavy_atom_ratio: float | None = Field(default=None, ge=1, description="None turns the ceiling off.")


class SyntheticAccessibility(_Strict):
    weight: float = Field(default=1.0, ge=0)
    max_score: float = Field(default=6.0, ge=1, le=10, description="The SA score (1 easy .. 10 hard) scored 0.5.")


class DomainPolicy(_Strict):
    require_in_domain: bool = False
    out_of_domain_factor: float = Field(default=0.5, gt=0, le=1)
    uncertainty_weight: float = Field(
        default=0.5, ge=0, le=1, description="How much of the score's uncertainty half-width is subtracted."
    )


class LimitPolicy(_Strict):
    """Acceptable limits, a hard constraint in selection rather than a filter: a molecule meets them when
    every goal's desirability (at its predicted value) is at least ``min_desirability`` (0.5: the middle
    of a goal's ramp, or the edges of its range) and, with ``in_domain``, the model's applicability domain
    holds it. With ``enforce`` the population and the final designs are the best molecules that meet them,
    and only then (if too few do) the best of the rest: a limit is never bought back by another goal."""

    enforce: bool = False
    min_desirability: float = Field(default=0.5, gt=0, lt=1)
    in_domain: bool = True


class Selection(_Strict):
    population: int = Field(default=16, ge=1, le=1000)
    batch: int = Field(default=32, ge=1, le=10_000, description="Molecules proposed per generation.")
    diversity: float = Field(default=0.8, gt=0, le=1, description="Most Tanimoto two selected molecules may share.")
    generators: list[str] = Field(default_factory=lambda: ["graph-ga"], min_length=1)
    mutation_fraction: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="graph-ga: share of children made by one small edit of one parent, the rest by crossover of "
        "two; near 1 keeps a lead optimisation close to its lead (crossover can join two parents whole).",
    )


class Objective(_Strict):
    goal: list[Goal] = Field(min_length=1)
    alerts: AlertPolicy = AlertPolicy()
    similarity: SimilarityPolicy = SimilarityPolicy()
    size: SizePolicy = SizePolicy()
    synthetic_accessibility: SyntheticAccessibility = SyntheticAccessibility()
    domain: DomainPolicy = DomainPolicy()
    limits: LimitPolicy = LimitPolicy()
    selection: Selection = Selection()

    @model_validator(mode="after")
    def _endpoints_once(self) -> Objective:
        names = [goal.endpoint for goal in self.goal]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"each endpoint may have one goal; twice: {', '.join(twice)}")
        return self


def parse_objective(data: dict[str, object]) -> Objective:
    """An :class:`Objective` from parsed TOML or JSON, or an :class:`InputError` naming each bad field."""
    try:
        return Objective.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'objective'}: {error['msg']}" for error in exc.errors()
        )
        raise InputError(f"the objective is not usable: {problems}") from None


def load_objective(path: Path) -> Objective:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    return parse_objective(data)
