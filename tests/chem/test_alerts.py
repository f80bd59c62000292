"""Structural alerts are reported by catalogue and name, sorted and unique; clean molecules give none."""

from __future__ import annotations

import pytest
from rdkit import Chem
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

from fedadmet.chem.alerts import ALERT_CATALOGS, structural_alerts


def test_quinone_hits_pains_brenk_and_nih_by_name() -> None:
    alerts = structural_alerts("O=C1C=CC(=O)C=C1")  # p-benzoquinone
    assert "PAINS:quinone_A(370)" in alerts
    assert "Brenk:chinone_1" in alerts
    assert "NIH:para_quinone" in alerts


@pytest.mark.parametrize(
    ("smiles", "alert"),
    [
        ("Nc1ccccc1N=Nc1ccccc1", "PAINS:azo_A(324)"),
        ("CC(=O)Cl", "Brenk:acid_halide"),
        ("CC(=O)Cl", "NIH:carbonyl_halide"),
        ("O=[N+]([O-])c1ccccc1", "Brenk:nitro_group"),
        ("CSSC", "NIH:disulfide_acyclic"),
    ],
)
def test_known_alert_is_reported_with_its_catalogue_prefix(smiles: str, alert: str) -> None:
    assert alert in structural_alerts(smiles)


@pytest.mark.parametrize("smiles", ["CCO", "c1ccccc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1"])
def test_clean_molecules_have_no_alerts(smiles: str) -> None:
    assert structural_alerts(smiles) == []


@pytest.mark.parametrize("smiles", ["O=C1C=CC(=O)C=C1", "Nc1ccccc1N=Nc1ccccc1", "CCCCCCCCCCCCCCCC"])
def test_output_is_sorted_unique_and_prefixed(smiles: str) -> None:
    alerts = structural_alerts(smiles)
    assert len(alerts) >= 2
    assert alerts == sorted(set(alerts))
    assert all(alert.split(":", 1)[0] in ALERT_CATALOGS for alert in alerts)


def test_each_alert_comes_from_the_catalogue_it_names() -> None:
    mol = Chem.MolFromSmiles("O=C1C=CC(=O)C=C1")
    expected = set()
    for prefix, which in ALERT_CATALOGS.items():
        params = FilterCatalogParams()
        params.AddCatalog(which)
        expected |= {f"{prefix}:{entry.GetDescription()}" for entry in FilterCatalog(params).GetMatches(mol)}
    assert structural_alerts("O=C1C=CC(=O)C=C1") == sorted(expected)


def test_unparsable_smiles_gives_no_alerts() -> None:
    assert structural_alerts("not a smiles") == []
