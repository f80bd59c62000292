"""Structural alerts (PAINS, Brenk, NIH) from RDKit's FilterCatalog, reported by catalogue and name."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rdkit import Chem
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

from fedadmet.chem.compute import map_chunks

ALERT_CATALOGS: dict[str, FilterCatalogParams.FilterCatalogs] = {
    "PAINS": FilterCatalogParams.FilterCatalogs.PAINS,
    "Brenk": FilterCatalogParams.FilterCatalogs.BRENK,
    "NIH": FilterCatalogParams.FilterCatalogs.NIH,
}


@lru_cache(maxsize=1)
def _catalogs() -> dict[str, FilterCatalog]:
    catalogs = {}
    for name, which in ALERT_CATALOGS.items():
        params = FilterCatalogParams()
        params.AddCatalog(which)
        catalogs[name] = FilterCatalog(params)
    return catalogs


def structural_alerts(smiles: str) -> list[str]:
    """Names of every alert the molecule matches, as ``"<catalogue>:<alert name>"``, sorted and unique."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return []
    found = {
        f"{catalog_name}:{entry.GetDescription()}"
        for catalog_name, catalog in _catalogs().items()
        for entry in catalog.GetMatches(mol)
    }
    return sorted(found)


def _alerts_chunk(smiles: Sequence[str]) -> list[list[str]]:
    return [structural_alerts(s) for s in smiles]


def structural_alerts_many(smiles: Sequence[str]) -> list[list[str]]:
    """:func:`structural_alerts` for many molecules, across cores for large inputs (matching ~1,000
    SMARTS patterns costs more per molecule than computing all features)."""
    return [alerts for block in map_chunks(_alerts_chunk, list(smiles), description="alerts") for alerts in block]
