"""Structural alerts (PAINS, Brenk, NIH) from RDKit's FilterCatalog, reported by catalogue and name."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams, RunFilterCatalog

from fedadmet.config import get_settings

ALERT_CATALOGS: dict[str, FilterCatalogParams.FilterCatalogs] = {
    "PAINS": FilterCatalogParams.FilterCatalogs.PAINS,
    "Brenk": FilterCatalogParams.FilterCatalogs.BRENK,
    "NIH": FilterCatalogParams.FilterCatalogs.NIH,
}
_UNPARSABLE = "no valid RDKit molecule"  # the entry RunFilterCatalog reports for a SMILES it cannot parse


@lru_cache(maxsize=1)
def _catalogs() -> dict[str, FilterCatalog]:
    catalogs = {}
    for name, which in ALERT_CATALOGS.items():
        params = FilterCatalogParams()
        params.AddCatalog(which)
        catalogs[name] = FilterCatalog(params)
    return catalogs


def structural_alerts_many(smiles: Sequence[str]) -> list[list[str]]:
    """For each molecule, every alert it matches as ``"<catalogue>:<alert name>"``, sorted and unique.

    Matching ~750 SMARTS patterns costs more per molecule than all features together, so it runs in
    RDKit's own threads (RunFilterCatalog) across cores. Unparsable SMILES get no alerts.
    """
    smiles = list(smiles)
    found: list[set[str]] = [set() for _ in smiles]
    if not smiles:
        return []
    threads = get_settings().n_jobs
    for catalog_name, catalog in _catalogs().items():
        for hits, entries in zip(found, RunFilterCatalog(catalog, smiles, numThreads=threads), strict=True):
            names = (entry.GetDescription() for entry in entries)
            hits.update(f"{catalog_name}:{name}" for name in names if name != _UNPARSABLE)
    return [sorted(hits) for hits in found]


def structural_alerts(smiles: str) -> list[str]:
    """:func:`structural_alerts_many` for one molecule."""
    return structural_alerts_many([smiles])[0]
