"""Scaffold splits never share a scaffold across parts; the leakage rule keeps evaluation molecules out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedadmet.chem.scaffolds import murcko_scaffold
from fedadmet.data.splits import (
    leaked_molecules,
    molecule_set_hash,
    scaffold_split,
    split_for_validation,
    without_molecules,
)

RINGS = [
    "c1ccccc1",
    "c1ccncc1",
    "C1CCCCC1",
    "C1CCNCC1",
    "C1COCCN1",
    "c1ccsc1",
    "c1ccoc1",
    "c1ccc2ccccc2c1",
    "c1ccc2[nH]ccc2c1",
    "c1ccc(-c2ccccc2)cc1",
    "C1CC1",
    "c1cnc2ccccc2c1",
]
SUBSTITUENTS = ["C", "CC", "O", "N", "F", "Cl", "C(=O)O", "OC"]


def _molecules() -> list[str]:
    """Molecules from 12 ring systems with 1-8 substituent variants each, plus acyclic ones (scaffold "")."""
    smiles = []
    for i, ring in enumerate(RINGS):
        for substituent in SUBSTITUENTS[: 1 + i % len(SUBSTITUENTS)]:
            smiles.append(f"{substituent}{ring}")
    smiles += ["CCO", "CCCN", "CC(=O)O", "CCCCCC"]
    return smiles


def test_test_data_has_the_intended_scaffolds() -> None:
    scaffolds = {murcko_scaffold(s) for s in _molecules()}
    assert len(scaffolds) == len(RINGS) + 1  # the rings plus the empty scaffold of acyclic molecules
    assert murcko_scaffold("CCO") == ""
    assert murcko_scaffold("CCc1ccccc1") == "c1ccccc1"


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("fractions", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.8, 0.2, 0.0)])
def test_split_is_a_partition_without_shared_scaffolds(seed: int, fractions: tuple[float, float, float]) -> None:
    smiles = _molecules()
    parts = scaffold_split(smiles, fractions, seed=seed)

    together = np.concatenate(parts)
    assert sorted(together.tolist()) == list(range(len(smiles)))  # disjoint and covering everything
    for part in parts:
        assert part.dtype.kind == "i"
    scaffolds = [{murcko_scaffold(smiles[i]) for i in part} for part in parts]
    assert not scaffolds[0] & scaffolds[1]
    assert not scaffolds[0] & scaffolds[2]
    assert not scaffolds[1] & scaffolds[2]
    assert len(parts[1]) > 0
    assert len(parts[0]) > len(parts[1])
    if fractions[2] == 0:
        assert len(parts[2]) == 0
    else:
        assert len(parts[2]) > 0


def test_split_is_deterministic_for_a_seed_and_varies_with_it() -> None:
    smiles = _molecules()
    first = scaffold_split(smiles, seed=3)
    again = scaffold_split(smiles, seed=3)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    others = [scaffold_split(smiles, seed=seed) for seed in range(10)]
    assert len({tuple(part[1].tolist()) for part in others}) > 1


@pytest.mark.parametrize("fractions", [(0.5, 0.1, 0.1), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_refused(fractions: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="fractions"):
        scaffold_split(["CCO", "CCN"], fractions)


def test_split_for_validation_keeps_scaffolds_apart_per_endpoint() -> None:
    smiles = _molecules()
    frames = {"a": pd.DataFrame({"smiles": smiles, "y": np.arange(len(smiles), dtype=float)})}
    frames["b"] = frames["a"].iloc[::2].reset_index(drop=True)
    train, valid = split_for_validation(frames, 0.2, seed=0)
    for name, frame in frames.items():
        assert len(train[name]) + len(valid[name]) == len(frame)
        assert len(valid[name]) > 0
        assert not {murcko_scaffold(s) for s in train[name]["smiles"]} & {
            murcko_scaffold(s) for s in valid[name]["smiles"]
        }
        rows = pd.concat([train[name], valid[name]]).sort_values("y").reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, frame.sort_values("y").reset_index(drop=True))


def _frames() -> dict[str, pd.DataFrame]:
    return {
        "hERG": pd.DataFrame({"smiles": ["CCO", "CCN", "c1ccccc1", "CCO"], "y": [0.0, 1.0, 1.0, 0.0]}),
        "Caco2_Wang": pd.DataFrame({"smiles": ["CCC", "c1ccccc1", "CCCl"], "y": [-4.0, -5.0, -6.0]}),
        "AMES": pd.DataFrame({"smiles": ["CCCl"], "y": [1.0]}),
    }


def test_leaked_molecules_finds_planted_leaks() -> None:
    evaluation = ["CCO", "c1ccccc1", "CCCCO", "CCCl"]
    assert leaked_molecules(_frames(), evaluation) == {"CCO", "c1ccccc1", "CCCl"}
    assert leaked_molecules(_frames(), ["CCCCO"]) == set()


def test_without_molecules_removes_forbidden_molecules_from_every_endpoint() -> None:
    forbidden = {"CCO", "c1ccccc1", "CCCl"}
    cleaned = without_molecules(_frames(), forbidden)

    assert set(cleaned) == set(_frames())
    assert cleaned["hERG"].to_dict("records") == [{"smiles": "CCN", "y": 1.0}]
    assert cleaned["Caco2_Wang"].to_dict("records") == [{"smiles": "CCC", "y": -4.0}]
    assert cleaned["AMES"].empty
    for frame in cleaned.values():
        assert frame.index.tolist() == list(range(len(frame)))
        assert not set(frame["smiles"]) & forbidden
    assert leaked_molecules(cleaned, forbidden) == set()


def test_without_molecules_leaves_the_input_alone() -> None:
    frames = _frames()
    without_molecules(frames, {"CCO"})
    assert frames["hERG"]["smiles"].tolist() == ["CCO", "CCN", "c1ccccc1", "CCO"]
    unchanged = without_molecules(frames, set())
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(unchanged[name], frame)


def test_molecule_set_hash_ignores_order_and_duplicates() -> None:
    reference = molecule_set_hash(["CCO", "CCN", "c1ccccc1"])
    assert molecule_set_hash(["c1ccccc1", "CCO", "CCN"]) == reference
    assert molecule_set_hash(["CCN", "CCO", "CCO", "c1ccccc1", "CCN"]) == reference
    assert molecule_set_hash({"CCO", "CCN", "c1ccccc1"}) == reference
    assert len(reference) == 64


def test_molecule_set_hash_depends_on_the_set() -> None:
    hashes = {
        molecule_set_hash(["CCO", "CCN"]),
        molecule_set_hash(["CCO"]),
        molecule_set_hash(["CCO", "CCN", "CCC"]),
        molecule_set_hash(["CCOCCN"]),  # concatenation must not collide
        molecule_set_hash([]),
    }
    assert len(hashes) == 5
