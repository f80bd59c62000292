"""Structural alerts (PAINS, Brenk, NIH) from RDKit's FilterCatalog, reported by catalogue and name."""

from __future__ import annotations

from functools import lru_cache

from rdkit import Chem
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

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
