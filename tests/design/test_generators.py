"""Generators by name: graph GA and CReM (on a fragment database built here from a few drugs)."""

import random
from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from fedadmet.data.public import bundled_path
from fedadmet.design.fragments import build_fragment_database
from fedadmet.design.generators import GENERATORS, make_generator
from fedadmet.exceptions import InputError
from tests.design.conftest import ASTEMIZOLE, TERFENADINE


def test_generators_are_registered_by_name_and_an_unknown_one_is_refused() -> None:
    assert {"graph-ga", "crem"} <= set(GENERATORS)
    with pytest.raises(InputError, match="no generator named 'vae'"):
        make_generator("vae", {})
    with pytest.raises(InputError, match="fragment database"):
        make_generator("crem", {})


def test_graph_ga_children_are_valid_and_the_same_seed_gives_the_same_children() -> None:
    generator = make_generator("graph-ga", {})
    first = generator.propose([TERFENADINE, ASTEMIZOLE], 20, random.Random(1))
    again = generator.propose([TERFENADINE, ASTEMIZOLE], 20, random.Random(1))
    assert first == again and len(first) >= 10
    assert all(Chem.MolFromSmiles(proposal.smiles) is not None for proposal in first)
    assert {proposal.operator for proposal in first} <= {"mutation", "crossover"}


def test_crem_mutates_and_grows_with_fragments_from_public_molecules(tmp_path: Path) -> None:
    drugs = pd.read_csv(bundled_path("examples", "drugbank_approved.csv.gz"))["smiles"].dropna()
    small = [
        Chem.MolToSmiles(mol)
        for text in drugs.head(300)
        if "." not in text
        for mol in [Chem.MolFromSmiles(text)]
        if mol is not None and mol.GetNumHeavyAtoms() <= 15
    ][:60]
    database = build_fragment_database(small, tmp_path / "fragments.db")
    generator = make_generator("crem", {"fragment_db": database})
    proposals = generator.propose(["c1ccccc1CCN", "CC(=O)Nc1ccc(O)cc1"], 12, random.Random(0))
    assert proposals and all(Chem.MolFromSmiles(proposal.smiles) is not None for proposal in proposals)
    assert {proposal.operator for proposal in proposals} <= {"crem-mutate", "crem-grow"}
    assert proposals == make_generator("crem", {"fragment_db": database}).propose(
        ["c1ccccc1CCN", "CC(=O)Nc1ccc(O)cc1"], 12, random.Random(0)
    )


def test_the_design_room_imports_no_registry_workflow_or_entry_point() -> None:
    import ast

    import fedadmet.design

    forbidden = ("fedadmet.registry", "fedadmet.workflows", "fedadmet.serve", "fedadmet.cli", "fedadmet.mcp")
    room = Path(fedadmet.design.__file__).parent
    for source in room.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not [name for name in names if name.startswith(forbidden)], source.name
