"""Structural alerts (PAINS, Brenk, NIH) from RDKit's FilterCatalog, reported by catalogue and name.

Matching ~765 SMARTS patterns per molecule costs more than all features together (~7 ms on one core),
while a typical molecule matches one or two. So each entry is first screened with RDKit pattern
fingerprints (a molecule can only contain the pattern if it has every bit the pattern sets, the screen
behind RDKit's SubstructLibrary), and only the survivors, ~20 %, are matched by the catalogue entry
itself. The answer is the catalogue's own; the screen only skips matches that cannot succeed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogEntry, FilterCatalogParams

from fedadmet.chem.parallel import map_chunks

ALERT_CATALOGS: dict[str, FilterCatalogParams.FilterCatalogs] = {
    "PAINS": FilterCatalogParams.FilterCatalogs.PAINS,
    "Brenk": FilterCatalogParams.FilterCatalogs.BRENK,
    "NIH": FilterCatalogParams.FilterCatalogs.NIH,
}
_SCREEN_BITS = 2048
_MOL_PICKLE_MAGIC = b"\xef\xbe\xad\xde"  # how every RDKit molecule pickle starts


@dataclass(frozen=True)
class _Alert:
    name: str  # "<catalogue>:<alert name>"
    entry: FilterCatalogEntry
    screen: np.ndarray | None  # packed pattern-fingerprint bits the molecule must have; None: never screened out


def _entry_pattern(entry: FilterCatalogEntry) -> Chem.Mol | None:
    """The entry's SMARTS pattern, read from its serialisation (RDKit's Python API does not expose the
    matcher): a text header ending in the pattern pickle's length, then the pickle. ``None`` where the
    layout is not that one, and the entry is then always matched."""
    data = entry.Serialize()
    start = data.find(_MOL_PICKLE_MAGIC)
    length = re.search(rb"(\d+) $", data[:start]) if start > 0 else None
    if length is None:
        return None
    try:
        pattern = Chem.Mol(data[start : start + int(length.group(1))])
    except RuntimeError:
        return None
    pattern.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(pattern)
    return pattern if pattern.GetNumAtoms() else None


def _screen_bits(mol: Chem.Mol) -> np.ndarray:
    bits = np.zeros(_SCREEN_BITS, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(Chem.PatternFingerprint(mol, fpSize=_SCREEN_BITS), bits)
    return np.packbits(bits)


@lru_cache(maxsize=1)
def _alerts() -> tuple[_Alert, ...]:
    alerts = []
    for catalog_name, which in ALERT_CATALOGS.items():
        params = FilterCatalogParams()
        params.AddCatalog(which)
        catalog = FilterCatalog(params)
        for index in range(catalog.GetNumEntries()):
            entry = catalog.GetEntryWithIdx(index)
            pattern = _entry_pattern(entry)
            screen = _screen_bits(pattern) if pattern is not None else None
            alerts.append(_Alert(f"{catalog_name}:{entry.GetDescription()}", entry, screen))
    return tuple(alerts)


def _alerts_chunk(smiles: Sequence[str]) -> list[list[str]]:
    mols = [Chem.MolFromSmiles(s) if isinstance(s, str) else None for s in smiles]
    parsed = [i for i, mol in enumerate(mols) if mol is not None]
    found: list[set[str]] = [set() for _ in smiles]
    if parsed:
        fingerprints = np.stack([_screen_bits(mols[i]) for i in parsed])
        for alert in _alerts():
            if alert.screen is None:
                candidates = range(len(parsed))
            else:
                candidates = np.flatnonzero(((fingerprints & alert.screen) == alert.screen).all(axis=1))
            for row in candidates:
                if alert.entry.HasFilterMatch(mols[parsed[row]]):
                    found[parsed[row]].add(alert.name)
    return [sorted(hits) for hits in found]


def structural_alerts_many(smiles: Sequence[str]) -> list[list[str]]:
    """For each molecule, every alert it matches as ``"<catalogue>:<alert name>"``, sorted and unique;
    large inputs run in worker processes. Unparsable SMILES get no alerts."""
    _alerts()  # built here once, so that forked workers inherit it instead of each building its own
    return [hits for chunk in map_chunks(_alerts_chunk, list(smiles), description="alerts") for hits in chunk]


def structural_alerts(smiles: str) -> list[str]:
    """:func:`structural_alerts_many` for one molecule."""
    return structural_alerts_many([smiles])[0]
