"""The NumPy descriptors give RDKit's own values bit for bit, so models see the features they were trained on."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors, GraphDescriptors
from rdkit.Chem.EState.EState import EStateIndices
from rdkit.Chem.EState.EState_VSA import EState_VSA_

from fedadmet.chem.descriptors import balaban_j, cache_estate_indices, estate_indices, peoe_vsa_bins
from fedadmet.data.public import approved_drugs

# Disconnected fragments, single atoms, charges, radicals, isotopes, heavy elements, rings and cages.
EDGE_CASES = [
    "C",
    "[Na+].[Cl-]",
    "CC.CC",
    "[CH3]",
    "C[C]",
    "[2H]OC",
    "ClC(Cl)(Cl)Br",
    "[Se]=C=[Se]",
    "C1CC2CCC1C2",
    "C12C3C4C1C5C2C3C45",
    "O=S(=O)(O)c1ccccc1",
    "[Fe+2]",
    "c1ccc2c(c1)[nH]c1ccccc12",
]


@pytest.fixture(scope="module")
def molecules() -> list[Chem.Mol]:
    drugs = approved_drugs()["smiles"].tolist()[::4]  # ~650 drugs of every size and element
    return [mol for mol in (Chem.MolFromSmiles(s) for s in drugs + EDGE_CASES) if mol is not None]


def test_estate_indices_equal_rdkits(molecules: list[Chem.Mol]) -> None:
    for mol in molecules:
        np.testing.assert_array_equal(
            estate_indices(Chem.Mol(mol)), EStateIndices(Chem.Mol(mol)), Chem.MolToSmiles(mol)
        )


def test_balaban_j_equals_rdkits(molecules: list[Chem.Mol]) -> None:
    for mol in molecules:
        assert balaban_j(Chem.Mol(mol)) == GraphDescriptors.BalabanJ(Chem.Mol(mol)), Chem.MolToSmiles(mol)


def test_rdkit_reads_the_cached_indices() -> None:
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1")
    cache_estate_indices(mol)
    mol._eStateIndices = mol._eStateIndices + 1.0  # RDKit must use what is cached, not recompute
    assert not np.array_equal(EState_VSA_(mol, force=False), EState_VSA_(Chem.Mol(mol), force=True))


def test_peoe_vsa_bins_equal_rdkits(molecules: list[Chem.Mol]) -> None:
    names = ("PEOE_VSA3", "PEOE_VSA1", "PEOE_VSA14")  # any subset, in any order
    functions = dict(Descriptors.descList)
    for mol in molecules:
        expected = [functions[name](Chem.Mol(mol)) for name in names]
        np.testing.assert_array_equal(peoe_vsa_bins(Chem.Mol(mol), names), expected, Chem.MolToSmiles(mol))
