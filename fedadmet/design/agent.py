"""The design agent: a deterministic loop of propose → filter → score → select → record.

Every generation draws from its own random source, seeded from the run's seed and the generation's
number, and the state it carries on from (the population with its scores, every SMILES seen, the budget
spent) is exactly what the trail records. So a run stopped after any recorded generation resumes to the
same result, and two runs with one seed write the same trail.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rdkit import Chem, DataStructs
from rdkit.rdBase import BlockLogs

from fedadmet.design.generators import Generator, Proposal
from fedadmet.design.objective import Objective
from fedadmet.design.scoring import MoleculeScore, Scorer, fingerprint

START_OPERATOR = "start"
EMPTY_GENERATIONS_TO_STOP = 3  # generations in a row without one new molecule: the generators are exhausted


class Status:
    """What became of a candidate in its generation."""

    START = "start"  # a starting molecule (generation 0)
    SELECTED = "selected"  # in the population the next generation breeds from
    KEPT = "kept"  # passed every constraint, ranked out of the population
    DROPPED = "dropped"  # failed a filter or a hard constraint; ``reason`` says which


@dataclass(frozen=True)
class Candidate:
    generation: int
    smiles: str
    parents: tuple[str, ...]
    operator: str
    status: str
    reason: str
    score: MoleculeScore | None = None


@dataclass(frozen=True)
class Member:
    """One molecule of the population, with the score it was selected on and how far it lies outside the
    objective's limits (0: it meets them). Selection ranks by that first, as constrained evolutionary
    search does (Deb's rules): a molecule meeting the limits beats any that does not, and of two that do
    not, the nearer one wins; the score decides between equals, and of equal scores the shorter SMILES
    (the smaller molecule) wins. Without that parsimony, an objective under which every molecule scores
    the same (a required substructure none has yet) lets the population grow without bound."""

    smiles: str
    score: float
    violation: float = 0.0

    def rank_key(self) -> tuple[float, float, int, str]:
        return (self.violation, -self.score, len(self.smiles), self.smiles)


@dataclass(frozen=True)
class Generation:
    number: int
    candidates: list[Candidate]
    population: list[Member]
    budget_used: int  # molecules profiled so far, this generation's included


@dataclass
class DesignState:
    """What the next generation needs: rebuilt from the trail's last generation on resume."""

    generation: int
    population: list[Member]
    seen: set[str] = field(default_factory=set)
    budget_used: int = 0
    empty_generations: int = 0


class Recorder(Protocol):
    def record(self, generation: Generation) -> None:
        """Keep one finished generation durably before the next starts (the resume point)."""
        ...


class DesignAgent:
    """Runs one objective with named generators until ``budget`` molecules have been profiled."""

    def __init__(
        self, objective: Objective, scorer: Scorer, generators: Mapping[str, Generator], seed: int, budget: int
    ) -> None:
        self.objective = objective
        self.scorer = scorer
        self.generators = dict(generators)
        self.seed = seed
        self.budget = budget

    def start(self, molecules: Sequence[str]) -> Generation:
        """Generation 0: the starting molecules profiled and ranked; the valid ones are the first parents,
        whatever constraints they break (they are where the chemist starts)."""
        scores = self.scorer.score(list(dict.fromkeys(molecules)))
        candidates, members = [], []
        for result in scores:
            if result.parent is None:
                candidates.append(Candidate(0, result.smiles, (), START_OPERATOR, Status.DROPPED, result.dropped or ""))
                continue
            reason = result.dropped or "starting molecule"
            candidates.append(Candidate(0, result.parent, (), START_OPERATOR, Status.START, reason, result))
            members.append(Member(result.parent, result.score, result.violation))
        population = sorted(members, key=Member.rank_key)
        return Generation(0, candidates, population, budget_used=len(scores))

    def state_after(self, generations: Sequence[Generation]) -> DesignState:
        """The state after the recorded ``generations`` (in order), to carry on from."""
        last = generations[-1]
        seen = {candidate.smiles for generation in generations for candidate in generation.candidates}
        empty = 0  # generations at the end that profiled nothing new
        for earlier, later in reversed(list(itertools.pairwise(generations))):
            if later.budget_used > earlier.budget_used:
                break
            empty += 1
        return DesignState(last.number, list(last.population), seen, last.budget_used, empty)

    def finished(self, state: DesignState) -> bool:
        return (
            state.budget_used >= self.budget
            or not state.population
            or state.empty_generations >= EMPTY_GENERATIONS_TO_STOP
        )

    def run(self, state: DesignState, recorder: Recorder) -> DesignState:
        while not self.finished(state):
            generation = self.step(state)
            recorder.record(generation)
            state.generation = generation.number
            state.population = generation.population
            state.seen.update(candidate.smiles for candidate in generation.candidates)
            new_molecules = generation.budget_used - state.budget_used
            state.empty_generations = 0 if new_molecules else state.empty_generations + 1
            state.budget_used = generation.budget_used
        return state

    def step(self, state: DesignState) -> Generation:
        number = state.generation + 1
        rng = random.Random(f"{self.seed}/{number}")
        count = min(self.objective.selection.batch, self.budget - state.budget_used)
        parents = [member.smiles for member in state.population]
        proposals = self._propose(parents, count, rng)
        candidates: list[Candidate] = []
        fresh: list[Proposal] = []
        batch_seen: set[str] = set()
        for proposal in proposals:
            smiles = _canonical_smiles(proposal.smiles)
            if smiles is None:
                candidates.append(_dropped(number, proposal, proposal.smiles, "invalid: RDKit cannot read it"))
            elif smiles in state.seen or smiles in batch_seen:
                candidates.append(_dropped(number, proposal, smiles, "not novel: proposed or started from before"))
            else:
                batch_seen.add(smiles)
                fresh.append(Proposal(smiles, proposal.parents, proposal.operator))
        scores = self.scorer.score([proposal.smiles for proposal in fresh])
        passed: list[tuple[Proposal, MoleculeScore]] = []
        for proposal, result in zip(fresh, scores, strict=True):
            if result.dropped:
                candidates.append(_dropped(number, proposal, proposal.smiles, result.dropped, result))
            else:
                passed.append((proposal, result))
        pool = [
            *state.population,
            *(Member(result.parent or proposal.smiles, result.score, result.violation) for proposal, result in passed),
        ]
        population, reasons = self._select(pool)
        chosen = {member.smiles for member in population}
        for proposal, result in passed:
            smiles = result.parent or proposal.smiles
            status = Status.SELECTED if smiles in chosen else Status.KEPT
            candidates.append(
                Candidate(number, smiles, proposal.parents, proposal.operator, status, reasons[smiles], result)
            )
        return Generation(number, candidates, population, state.budget_used + len(fresh))

    def _propose(self, parents: list[str], count: int, rng: random.Random) -> list[Proposal]:
        """``count`` proposals shared out over the objective's generators in their listed order."""
        names = self.objective.selection.generators
        shares = [count // len(names) + (index < count % len(names)) for index in range(len(names))]
        proposals: list[Proposal] = []
        for name, share in zip(names, shares, strict=True):
            if share:
                proposals.extend(self.generators[name].propose(parents, share, rng))
        return proposals

    def _select(self, pool: list[Member]) -> tuple[list[Member], dict[str, str]]:
        """The best-scoring molecules of ``pool`` (those meeting the objective's limits first), skipping one
        too similar to a better one already chosen."""
        limit, diversity = self.objective.selection.population, self.objective.selection.diversity
        chosen: list[Member] = []
        prints: list[DataStructs.ExplicitBitVect] = []
        reasons: dict[str, str] = {}
        for rank, member in enumerate(sorted(pool, key=Member.rank_key), start=1):
            mol_print = fingerprint(Chem.MolFromSmiles(member.smiles))
            similarities = DataStructs.BulkTanimotoSimilarity(mol_print, prints) if prints else []
            closest = max(range(len(similarities)), key=similarities.__getitem__, default=None)
            if len(chosen) >= limit:
                reasons[member.smiles] = f"rank {rank}: below the {limit} best"
            elif closest is not None and similarities[closest] > diversity:
                reasons[member.smiles] = (
                    f"rank {rank}: Tanimoto {similarities[closest]:.2f} to the better {chosen[closest].smiles}"
                )
            else:
                chosen.append(member)
                prints.append(mol_print)
                reasons[member.smiles] = f"rank {rank}: selected"
        return chosen, reasons


def _canonical_smiles(smiles: str) -> str | None:
    quiet = BlockLogs()  # an unreadable proposal is recorded as dropped, not logged  # noqa: F841
    mol = Chem.MolFromSmiles(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else None


def _dropped(
    number: int, proposal: Proposal, smiles: str, reason: str, score: MoleculeScore | None = None
) -> Candidate:
    return Candidate(number, smiles, proposal.parents, proposal.operator, Status.DROPPED, reason, score)
