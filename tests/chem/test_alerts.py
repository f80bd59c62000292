"""Structural alerts are reported by catalogue and name, sorted and unique; clean molecules give none."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

import fedadmet.chem.parallel as parallel
from fedadmet.chem.alerts import ALERT_CATALOGS, _alerts, structural_alerts, structural_alerts_many
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.data.public import bundled_path


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


@cache
def _plain_catalogues() -> dict[str, FilterCatalog]:
    catalogues = {}
    for prefix, which in ALERT_CATALOGS.items():
        params = FilterCatalogParams()
        params.AddCatalog(which)
        catalogues[prefix] = FilterCatalog(params)
    return catalogues


def _catalogue_answer(smiles: str) -> list[str]:
    """Every entry of each catalogue matched the plain way, without any screen."""
    mol = Chem.MolFromSmiles(smiles)
    hits = set()
    for prefix, catalogue in _plain_catalogues().items():
        hits |= {f"{prefix}:{entry.GetDescription()}" for entry in catalogue.GetMatches(mol)}
    return sorted(hits)


def test_each_alert_comes_from_the_catalogue_it_names() -> None:
    assert structural_alerts("O=C1C=CC(=O)C=C1") == _catalogue_answer("O=C1C=CC(=O)C=C1")


def test_unparsable_smiles_gives_no_alerts() -> None:
    assert structural_alerts("not a smiles") == []


def test_fingerprint_screen_never_changes_the_answer() -> None:
    """The screen may only skip matches that cannot succeed: compare with the plain catalogue on 1,500
    molecules of the bundled public data (drugs, Tox21 chemicals, screening compounds)."""
    admet = sorted(bundled_path("tdc_admet_group").glob("*/train_val.csv.gz"))
    files = [*admet, bundled_path("moleculenet", "tox21.csv.gz")]
    pool = pd.concat([pd.read_csv(path).filter(regex="(?i)^(drug|smiles)$").iloc[:, 0] for path in files])
    smiles = pool.drop_duplicates().sample(n=1500, random_state=1).tolist()
    expected = [_catalogue_answer(s) for s in smiles]
    assert structural_alerts_many(smiles) == expected
    assert sum(map(len, expected)) > 300  # the sample exercises many alerts, not only clean molecules


def test_every_entry_is_screened() -> None:
    alerts = _alerts()
    assert len(alerts) == 765
    assert all(alert.screen.any() for alert in alerts)


def test_worker_processes_return_alerts_in_input_order(monkeypatch: pytest.MonkeyPatch) -> None:
    smiles = ["O=C1C=CC(=O)C=C1", "CCO", "not a smiles", "CC(=O)Cl", "CSSC", "Nc1ccccc1N=Nc1ccccc1", "c1ccccc1"] * 3
    serial = structural_alerts_many(smiles)
    monkeypatch.setattr(parallel, "_CHUNK", 4)
    assert structural_alerts_many(smiles, ParallelOptions(n_jobs=2, parallel_threshold=2)) == serial
    assert serial[0] and not serial[1] and not serial[2]
