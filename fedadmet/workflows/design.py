"""Design use cases: run, resume and show design runs; score molecules and propose analogues.

The design room (:mod:`fedadmet.design`) knows neither models nor the registry: this module gives its
scorer the profiling workflow, and its agent a recorder that writes each generation to the registry in
one transaction (the point a crashed run resumes from).
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, computed_field

from fedadmet.chem.standardize import standardize_smiles
from fedadmet.config import get_settings
from fedadmet.data.loaders import SD_PROBLEM_COLUMN, find_smiles_column, read_molecules
from fedadmet.design.agent import Candidate, DesignAgent, Generation, Member, Status
from fedadmet.design.generators import GENERATORS, Generator, Proposal, make_generator
from fedadmet.design.objective import Objective
from fedadmet.design.scoring import MoleculeScore, ProfileFunction, Scorer
from fedadmet.exceptions import InputError
from fedadmet.inference import default_model_dir, load_model
from fedadmet.registry import design_repository as repository
from fedadmet.registry.database import open_registry
from fedadmet.registry.design_tables import DesignRun
from fedadmet.workflows.profiling import profile

MAX_START_MOLECULES = 1000
MAX_BUDGET = 100_000


class UnknownDesignRunError(InputError):
    """No design run has this id."""


class CandidateView(BaseModel):
    generation: int
    smiles: str
    parents: list[str]
    operator: str
    status: str
    reason: str
    score: float | None
    score_low: float | None
    score_high: float | None
    details: dict[str, Any]


class MemberView(BaseModel):
    smiles: str
    score: float


class GenerationView(BaseModel):
    number: int
    budget_used: int
    population: list[MemberView]
    candidates: list[CandidateView]


class DesignRunSummary(BaseModel):
    id: int
    user_id: int | None
    name: str
    status: str
    message: str
    seed: int
    budget: int
    created: datetime
    finished: datetime | None


class DesignRunView(DesignRunSummary):
    objective: dict[str, Any]
    start: list[str]
    model_uri: str
    generations: list[GenerationView]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def budget_used(self) -> int:
        return self.generations[-1].budget_used if self.generations else 0

    def ranked(self) -> list[CandidateView]:
        """Every designed molecule that met the hard constraints, best first (starting molecules left out)."""
        designed = [
            candidate
            for generation in self.generations
            for candidate in generation.candidates
            if candidate.status in (Status.SELECTED, Status.KEPT)
        ]
        return sorted(designed, key=lambda candidate: (-(candidate.score or 0.0), candidate.smiles))


def _summary(run: DesignRun) -> DesignRunSummary:
    return DesignRunSummary(
        id=run.id,
        user_id=run.user_id,
        name=run.name,
        status=run.status,
        message=run.message,
        seed=run.seed,
        budget=run.budget,
        created=run.created,
        finished=run.finished,
    )


def _view(run: DesignRun) -> DesignRunView:
    generations = [
        GenerationView(
            number=generation.number,
            budget_used=generation.budget_used,
            population=[MemberView(**member) for member in generation.population],
            candidates=[
                CandidateView(
                    generation=generation.number,
                    smiles=row.smiles,
                    parents=list(row.parents),
                    operator=row.operator,
                    status=row.status,
                    reason=row.reason,
                    score=row.score,
                    score_low=row.score_low,
                    score_high=row.score_high,
                    details=row.details,
                )
                for row in generation.candidates
            ],
        )
        for generation in run.generations
    ]
    return DesignRunView(
        **_summary(run).model_dump(),
        objective=run.objective,
        start=list(run.start),
        model_uri=run.model_uri,
        generations=generations,
    )


def _json_safe(value: Any) -> Any:
    """NaN becomes None (PostgreSQL's JSON refuses NaN); tuples become lists."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _candidate_fields(candidate: Candidate) -> dict[str, Any]:
    score = candidate.score
    details: dict[str, Any] = {}
    if score is not None:
        details = {
            key: value
            for key, value in dataclasses.asdict(score).items()
            if key not in ("smiles", "score", "score_low", "score_high")
        }
    return {
        "smiles": candidate.smiles,
        "parents": list(candidate.parents),
        "operator": candidate.operator,
        "status": candidate.status,
        "reason": candidate.reason,
        "score": score.score if score else None,
        "score_low": score.score_low if score else None,
        "score_high": score.score_high if score else None,
        "details": _json_safe(details),
    }


class _RegistryRecorder:
    """Writes each generation of one run in its own transaction."""

    def __init__(self, run_id: int, registry_url: str | None) -> None:
        self.run_id = run_id
        self.registry_url = registry_url

    def record(self, generation: Generation) -> None:
        with open_registry(self.registry_url).begin() as session:
            repository.record_design_generation(
                session,
                self.run_id,
                generation.number,
                budget_used=generation.budget_used,
                population=[dataclasses.asdict(member) for member in generation.population],
                candidates=[_candidate_fields(candidate) for candidate in generation.candidates],
            )


def _generators(names: Sequence[str]) -> dict[str, Generator]:
    options: dict[str, Any] = {}
    if "crem" in names:
        from fedadmet.workflows.fragments import fragment_database

        options["fragment_db"] = fragment_database(get_settings())
    return {name: make_generator(name, options) for name in names}


def _model_path(model: Path | None) -> Path:
    return Path(model or default_model_dir()).resolve()


def _scorer(objective: Objective, references: Sequence[str], model: Path) -> Scorer:
    return Scorer(objective, partial(profile, predictor=model), references)


def _check_request(start: Sequence[str], objective: Objective, budget: int) -> None:
    if not start:
        raise InputError("a design needs at least one starting molecule")
    if len(start) > MAX_START_MOLECULES:
        raise InputError(f"at most {MAX_START_MOLECULES} starting molecules", got=len(start))
    if not 1 <= budget <= MAX_BUDGET:
        raise InputError("the budget (molecules to profile) is out of range", got=budget, expected=f"1..{MAX_BUDGET}")
    unknown = [name for name in objective.selection.generators if name not in GENERATORS]
    if unknown:
        raise InputError(f"no generator named {', '.join(unknown)}", expected=", ".join(sorted(GENERATORS)))
    for text in start:
        standardised(text)  # names the first molecule that cannot be a parent


def _check_endpoints(objective: Objective, model: Path) -> None:
    """Refuse, before the run is recorded, a goal the model does not predict."""
    predicted = set(load_model(model).endpoints)
    missing = [goal.endpoint for goal in objective.goal if goal.endpoint not in predicted]
    if missing:
        raise InputError(
            f"the model does not predict {', '.join(missing)}", expected="endpoints that `fedadmet endpoints` lists"
        )


def create_design(
    start: Sequence[str],
    objective: Objective,
    *,
    budget: int,
    seed: int = 0,
    name: str = "",
    model: Path | None = None,
    user_id: int | None = None,
    registry_url: str | None = None,
) -> int:
    """Record a new design run (checked, not yet run); :func:`continue_design` runs it."""
    _check_request(start, objective, budget)
    model_path = _model_path(model)
    _check_endpoints(objective, model_path)
    with open_registry(registry_url).begin() as session:
        return repository.create_design_run(
            session,
            name=name or f"design-{seed}",
            seed=seed,
            budget=budget,
            objective=objective.model_dump(mode="json"),
            start=list(start),
            model_uri=str(model_path),
            user_id=user_id,
        ).id


def run_design(
    start: Sequence[str],
    objective: Objective,
    *,
    budget: int,
    seed: int = 0,
    name: str = "",
    model: Path | None = None,
    user_id: int | None = None,
    registry_url: str | None = None,
) -> DesignRunView:
    """Start a design run from ``start`` and run it until ``budget`` molecules have been profiled."""
    run_id = create_design(
        start, objective, budget=budget, seed=seed, name=name, model=model, user_id=user_id, registry_url=registry_url
    )
    return continue_design(run_id, registry_url=registry_url)


def resume_design(run_id: int, *, registry_url: str | None = None) -> DesignRunView:
    """Carry on a run that stopped (crashed or failed) from its last recorded generation."""
    run = show_design(run_id, registry_url=registry_url)
    if run.status == "completed":
        return run
    return continue_design(run_id, registry_url=registry_url)


def continue_design(run_id: int, *, registry_url: str | None = None) -> DesignRunView:
    """Run a recorded design run from its last recorded generation (from the start if it has none)."""
    run = show_design(run_id, registry_url=registry_url)
    objective = Objective.model_validate(run.objective)
    model = Path(run.model_uri)
    agent = DesignAgent(
        objective,
        _scorer(objective, run.start, model),
        _generators(objective.selection.generators),
        run.seed,
        run.budget,
    )
    recorder = _RegistryRecorder(run_id, registry_url)
    with open_registry(registry_url).begin() as session:
        repository.finish_design_run(session, run_id, "running")
    try:
        if not run.generations:
            recorder.record(agent.start(run.start))
            run = show_design(run_id, registry_url=registry_url)
        agent.run(agent.state_after([_generation(view) for view in run.generations]), recorder)
    except Exception as exc:
        with open_registry(registry_url).begin() as session:
            repository.finish_design_run(session, run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    with open_registry(registry_url).begin() as session:
        repository.finish_design_run(session, run_id, "completed")
    return show_design(run_id, registry_url=registry_url)


def _generation(view: GenerationView) -> Generation:
    """The part of a recorded generation the agent carries on from (molecules seen, population, budget)."""
    candidates = [
        Candidate(view.number, candidate.smiles, tuple(candidate.parents), candidate.operator, candidate.status, "")
        for candidate in view.candidates
    ]
    population = [Member(member.smiles, member.score) for member in view.population]
    return Generation(view.number, candidates, population, view.budget_used)


class _MemoryRecorder:
    def __init__(self) -> None:
        self.generations: list[Generation] = []

    def record(self, generation: Generation) -> None:
        self.generations.append(generation)


def optimise_with_oracle(
    start: Sequence[str], objective: Objective, oracle: ProfileFunction, *, budget: int, seed: int = 0
) -> list[Generation]:
    """A design run scored by ``oracle`` (columns named by the objective's goals) instead of the model,
    kept in memory, not in the registry: what benchmarks with their own oracles (PMO tasks) run."""
    _check_request(start, objective, budget)
    agent = DesignAgent(
        objective, Scorer(objective, oracle, start), _generators(objective.selection.generators), seed, budget
    )
    recorder = _MemoryRecorder()
    recorder.record(agent.start(start))
    agent.run(agent.state_after(recorder.generations), recorder)
    return recorder.generations


def show_design(run_id: int, *, registry_url: str | None = None) -> DesignRunView:
    with open_registry(registry_url)() as session:
        run = repository.get_design_run(session, run_id)
        if run is None:
            raise UnknownDesignRunError(f"no design run {run_id}")
        return _view(run)


def list_design_runs(
    limit: int | None = 50, *, user_id: int | None = None, registry_url: str | None = None
) -> list[DesignRunSummary]:
    with open_registry(registry_url)() as session:
        return [_summary(run) for run in repository.list_design_runs(session, limit, user_id)]


def read_start_molecules(path: Path, smiles_column: str | None = None) -> list[str]:
    """The SMILES of a CSV/TSV, .smi or SD file, in order, each once."""
    frame = read_molecules(path, smiles_column)
    column = "smiles" if SD_PROBLEM_COLUMN in frame else find_smiles_column(frame, smiles_column)
    return list(dict.fromkeys(str(value) for value in frame[column] if isinstance(value, str) and value.strip()))


def results_table(run: DesignRunView) -> pd.DataFrame:
    """The designed molecules, best first: SMILES, score with its range, and each goal's predicted value
    and desirability (a CSV of it can seed a campaign)."""
    rows = []
    for candidate in run.ranked():
        values = candidate.details.get("values", {})
        components = candidate.details.get("components", {})
        rows.append(
            {
                "smiles": candidate.smiles,
                "score": candidate.score,
                "score_low": candidate.score_low,
                "score_high": candidate.score_high,
                "generation": candidate.generation,
                "operator": candidate.operator,
                "parents": ".".join(candidate.parents),
                "status": candidate.status,
                **values,
                **{f"{name}_desirability": value for name, value in components.items()},
                "sa_score": candidate.details.get("sa_score"),
                "similarity": candidate.details.get("similarity"),
                "in_domain": candidate.details.get("in_domain"),
                "alerts": "; ".join(candidate.details.get("alerts", [])),
            }
        )
    return pd.DataFrame(rows, columns=None if rows else ["smiles", "score", "score_low", "score_high"])


def score_molecules(
    smiles: Sequence[str], objective: Objective, *, references: Sequence[str] = (), model: Path | None = None
) -> list[MoleculeScore]:
    """Score molecules against an objective without a run (one batched profile)."""
    return _scorer(objective, references, _model_path(model)).score(list(smiles))


def propose_analogs(smiles: Sequence[str], *, count: int, generator: str = "graph-ga", seed: int = 0) -> list[Proposal]:
    """Up to ``count`` distinct new molecules made from ``smiles`` by one generator, unscored."""
    parents = [standardised(text) for text in smiles]
    chosen = _generators([generator])[generator]
    rng = random.Random(f"{seed}/analogs")
    proposals: dict[str, Proposal] = {}
    for _attempt in range(3):  # moves fail or repeat: a few rounds to reach the count
        for proposal in chosen.propose(parents, count, rng):
            if proposal.smiles not in parents:
                proposals.setdefault(proposal.smiles, proposal)
        if len(proposals) >= count:
            break
    return list(proposals.values())[:count]


def standardised(text: str) -> str:
    """The standardised parent of ``text``, or an :class:`InputError` naming the molecule and why not."""
    parent, reason = standardize_smiles(text, get_settings().molecule_limits())
    if parent is None:
        raise InputError(f"molecule {text!r} cannot be used: {reason}")
    return parent
