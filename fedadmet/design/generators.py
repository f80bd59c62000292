"""Molecule generators, registered by name; each proposes children of a population and nothing more.

Scoring, filtering and selection belong to the agent, so a generator only needs a random source: the
agent hands it one seeded per generation, which makes every run reproducible from its seed. Results are
lists in a fixed order (never sets: string hashing changes between processes).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rdkit import Chem
from rdkit.rdBase import BlockLogs

from fedadmet.exceptions import InputError


@dataclass(frozen=True)
class Proposal:
    smiles: str
    parents: tuple[str, ...]
    operator: str  # which move made it, e.g. "crossover", "mutation", "crem-mutate"


class Generator(Protocol):
    def propose(self, parents: Sequence[str], count: int, rng: random.Random) -> list[Proposal]:
        """Up to ``count`` children of ``parents`` (fewer where moves fail), drawn with ``rng`` only."""
        ...


GeneratorFactory = Callable[[Mapping[str, Any]], Generator]
GENERATORS: dict[str, GeneratorFactory] = {}


def register_generator(name: str) -> Callable[[GeneratorFactory], GeneratorFactory]:
    def register(factory: GeneratorFactory) -> GeneratorFactory:
        if name in GENERATORS:
            raise ValueError(f"a generator named {name!r} is registered already")
        GENERATORS[name] = factory
        return factory

    return register


def make_generator(name: str, options: Mapping[str, Any]) -> Generator:
    """The generator registered as ``name``, built with ``options`` (e.g. ``fragment_db`` for CReM)."""
    if name not in GENERATORS:
        raise InputError(f"no generator named {name!r}", expected=", ".join(sorted(GENERATORS)))
    return GENERATORS[name](options)


@register_generator("graph-ga")
class GraphGA:
    """Jensen's graph GA as packaged by mol-ga: ring/non-ring crossover of two parents (with rare
    mutation), or a single mutation (atom/bond insertions, deletions, changes, ring additions)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.mutation_fraction = float(options.get("mutation_fraction", 0.3))

    def propose(self, parents: Sequence[str], count: int, rng: random.Random) -> list[Proposal]:
        from mol_ga.graph_ga.gen_candidates import mutate, reproduce

        quiet = BlockLogs()  # failed moves are expected and counted, not logged  # noqa: F841
        proposals = []
        for _ in range(count):
            if len(parents) < 2 or rng.random() < self.mutation_fraction:
                parent = rng.choice(parents)
                child, used, operator = mutate(parent, rng), (parent,), "mutation"
            else:
                first, second = rng.sample(list(parents), 2)
                child, used, operator = reproduce(first, second, 0.01, rng), (first, second), "crossover"
            if child:
                proposals.append(Proposal(child, used, operator))
        return proposals


@register_generator("crem")
class CremGenerator:
    """CReM: swaps a fragment for one seen in the same chemical context in real molecules (mutate) or
    replaces a hydrogen with such a fragment (grow). Needs ``fragment_db``, a CReM database file."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        if not options.get("fragment_db"):
            raise InputError("the crem generator needs a fragment database", expected="the fragment_db option")
        self.fragment_db = Path(options["fragment_db"])
        self.grow_fraction = float(options.get("grow_fraction", 0.3))
        self._children: dict[tuple[str, str], list[str]] = {}

    def _all_children(self, parent: str, operator: str) -> list[str]:
        """Every child CReM can make of ``parent`` by ``operator``, sorted (the database's order is not fixed)."""
        key = (parent, operator)
        if key not in self._children:
            from crem.crem import grow_mol, mutate_mol

            mol = Chem.MolFromSmiles(parent)
            if operator == "crem-grow":
                children = grow_mol(mol, db_name=str(self.fragment_db), radius=3, max_atoms=4)
            else:
                children = mutate_mol(mol, db_name=str(self.fragment_db), radius=3, max_size=6, min_inc=-3, max_inc=3)
            self._children[key] = sorted(set(children))
        return self._children[key]

    def propose(self, parents: Sequence[str], count: int, rng: random.Random) -> list[Proposal]:
        proposals = []
        for _ in range(count):
            parent = rng.choice(parents)
            operator = "crem-grow" if rng.random() < self.grow_fraction else "crem-mutate"
            children = self._all_children(parent, operator)
            if children:
                proposals.append(Proposal(rng.choice(children), (parent,), operator))
        return proposals
