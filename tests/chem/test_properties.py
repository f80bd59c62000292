"""Physicochemical properties are RDKit's own values, read from the features where they are there; the rules
say which limit a molecule breaks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
from rdkit.Contrib.SA_Score import sascorer

from fedadmet.chem.featurizers import default_feature_set, descriptor_columns
from fedadmet.chem.properties import PROPERTY_NAMES, RULES, check_rules, molecule_properties
from fedadmet.data.public import approved_drugs


@pytest.fixture(scope="module")
def molecules() -> list[Chem.Mol]:
    return [Chem.MolFromSmiles(s) for s in approved_drugs()["smiles"].tolist()[::20]]  # ~130 drugs


def rdkits_values(mol: Chem.Mol) -> dict[str, float]:
    return {
        "molecular_weight": Descriptors.MolWt(mol),
        "logP": Crippen.MolLogP(mol),
        "tpsa": rdMolDescriptors.CalcTPSA(mol),
        "hydrogen_bond_donors": rdMolDescriptors.CalcNumHBD(mol),
        "hydrogen_bond_acceptors": rdMolDescriptors.CalcNumHBA(mol),
        "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds(mol),
        "formal_charge": Chem.GetFormalCharge(mol),
        "QED": QED.qed(mol),
        "synthetic_accessibility": sascorer.calculateScore(mol),
    }


def test_properties_are_rdkits_whether_computed_or_read_from_the_features(molecules: list[Chem.Mol]) -> None:
    features = default_feature_set()
    columns = descriptor_columns(features)
    assert {"MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors", "NumRotatableBonds"} <= set(columns)
    for mol in molecules:
        expected = rdkits_values(mol)
        row = features(mol)
        known = {name: row[column] for name, column in columns.items()}
        for values, tolerance in ((molecule_properties(mol), 1e-9), (molecule_properties(mol, known), 1e-5)):
            got = dict(zip(PROPERTY_NAMES, values, strict=True))
            for name in PROPERTY_NAMES:  # features are float32: a relative 1e-5 at most
                close = pytest.approx(expected[name], rel=tolerance, abs=tolerance)
                assert got[name] == close, (Chem.MolToSmiles(mol), name)


def outcome(rule: str, **values: float) -> tuple[bool, list[str]]:
    table = {name: np.array([values.get(name, 0.0)]) for name in PROPERTY_NAMES}
    result = check_rules(table)[rule]
    return bool(result.passed[0]), result.violations[0]


def test_rules_name_the_limit_broken() -> None:
    assert outcome("Lipinski", molecular_weight=612.8, logP=4) == (True, ["MW 612.8 > 500"])  # one is allowed
    passed, broken = outcome("Lipinski", molecular_weight=612.8, logP=5.6, hydrogen_bond_donors=6)
    assert not passed and broken == ["MW 612.8 > 500", "cLogP 5.6 > 5", "HBD 6 > 5"]
    assert outcome("Veber", rotatable_bonds=11, tpsa=90) == (False, ["RotB 11 > 10"])
    assert outcome("Veber", rotatable_bonds=10, tpsa=140)[0]  # limits are inclusive
    # Pfizer 3/75 fails only when both are broken: lipophilic and not polar.
    assert outcome("Pfizer_3_75", logP=3.5, tpsa=60) == (False, ["cLogP 3.5 > 3", "TPSA 60 < 75"])
    assert outcome("Pfizer_3_75", logP=3.5, tpsa=80)[0]
    assert outcome("GSK_4_400", molecular_weight=420, logP=3) == (False, ["MW 420 > 400"])
    assert outcome("Golden_Triangle", molecular_weight=150, logP=1) == (False, ["MW 150 < 200"])
    assert outcome("Golden_Triangle", molecular_weight=350, logP=-2.5) == (False, ["cLogP -2.5 < -2"])
    assert {rule.name for rule in RULES} == {"Lipinski", "Veber", "Pfizer_3_75", "GSK_4_400", "Golden_Triangle"}
    assert all(not math.isinf(limit.high) or not math.isinf(limit.low) for rule in RULES for limit in rule.limits)
