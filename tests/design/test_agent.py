"""The agent's selection: ties in score go to the smaller molecule, so a flat objective cannot bloat."""

from collections.abc import Sequence

import pandas as pd
from rdkit import Chem

from fedadmet.design.agent import Member
from fedadmet.design.objective import parse_objective
from fedadmet.workflows.design import optimise_with_oracle

START = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1CCC[C@H]1c1cccnc1", "OC(=O)c1ccccc1OC(C)=O", "CCN(CC)CC"]


def flat_oracle(smiles: Sequence[str]) -> pd.DataFrame:
    """Every readable molecule scores the same (as under a required substructure none has yet)."""
    mols = [Chem.MolFromSmiles(text) for text in smiles]
    return pd.DataFrame(
        {
            "smiles": [Chem.MolToSmiles(mol) if mol else None for mol in mols],
            "error": [None if mol else "unreadable" for mol in mols],
            "oracle": [0.0 if mol else float("nan") for mol in mols],
        }
    ).assign(in_domain=True, alerts="", oracle_uncertainty=0.0)


def test_equal_scores_rank_the_smaller_molecule_first() -> None:
    ranked = sorted([Member("CCCCCCCCCC", 0.5), Member("CCCC", 0.5), Member("CC", 0.4)], key=Member.rank_key)
    assert [member.smiles for member in ranked] == ["CCCC", "CCCCCCCCCC", "CC"]


def test_a_flat_objective_does_not_grow_the_population() -> None:
    objective = parse_objective(
        {
            "goal": [{"endpoint": "oracle", "direction": "higher", "low": 0.0, "high": 1.0}],
            "alerts": {"mode": "ignore"},
            "synthetic_accessibility": {"weight": 0},
            "domain": {"uncertainty_weight": 0},
            "selection": {"population": 6, "batch": 20, "diversity": 0.9, "generators": ["graph-ga"]},
        }
    )
    generations = optimise_with_oracle(START, objective, flat_oracle, budget=500, seed=0)
    largest_start = max(Chem.MolFromSmiles(text).GetNumHeavyAtoms() for text in START)
    final = [Chem.MolFromSmiles(member.smiles).GetNumHeavyAtoms() for member in generations[-1].population]
    assert len(generations) > 20 and max(final) <= largest_start
