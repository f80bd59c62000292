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

from fedadmet.chem.parallel import ParallelOptions, iter_chunks

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
    screen: np.ndarray  # packed pattern-fingerprint bits the molecule must have; none set: never screened out


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


def screen_bits(mol: Chem.Mol | None) -> np.ndarray:
    """Pattern-fingerprint bits packed into 64-bit words (8x fewer operations when screening); all zero for None."""
    bits = np.zeros(_SCREEN_BITS, dtype=np.uint8)
    if mol is not None:
        DataStructs.ConvertToNumpyArray(Chem.PatternFingerprint(mol, fpSize=_SCREEN_BITS), bits)
    return np.packbits(bits).view(np.uint64)


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
            alerts.append(_Alert(f"{catalog_name}:{entry.GetDescription()}", entry, screen_bits(pattern)))
    return tuple(alerts)


@lru_cache(maxsize=1)
def _screens() -> np.ndarray:
    """Every alert's screen, one row each: one molecule is screened against all of them in one operation."""
    return np.stack([alert.screen for alert in _alerts()])


def prepare_alerts() -> None:
    """Build the screened catalogue now, before worker processes are forked, so that they inherit it
    instead of each building its own."""
    _screens()


def screened(bits: np.ndarray, screens: np.ndarray) -> np.ndarray:
    """Rows of ``screens`` (each a pattern's :func:`screen_bits`) whose pattern a molecule with ``bits`` may
    contain: only these need a substructure match."""
    return np.flatnonzero(((bits & screens) == screens).all(axis=1))


def alerts_for_mols(mols: Sequence[Chem.Mol | None], bits: Sequence[np.ndarray] | None = None) -> list[list[str]]:
    """For each molecule, every alert it matches as ``"<catalogue>:<alert name>"``, sorted and unique;
    ``None`` (a molecule that could not be read) gets none. ``bits``: each molecule's :func:`screen_bits`
    where the caller has them already."""
    alerts, screens = _alerts(), _screens()
    found = []
    for position, mol in enumerate(mols):
        hits = set()
        if mol is not None:
            candidates = screened(bits[position] if bits is not None else screen_bits(mol), screens)
            hits = {alerts[i].name for i in candidates if alerts[i].entry.HasFilterMatch(mol)}
        found.append(sorted(hits))
    return found


def _alerts_chunk(smiles: Sequence[str]) -> list[list[str]]:
    return alerts_for_mols([Chem.MolFromSmiles(s) if isinstance(s, str) else None for s in smiles])


def structural_alerts_many(smiles: Sequence[str], parallel: ParallelOptions | None = None) -> list[list[str]]:
    """For each molecule, every alert it matches as ``"<catalogue>:<alert name>"``, sorted and unique;
    large inputs run in worker processes. Unparsable SMILES get no alerts."""
    prepare_alerts()
    return [
        hits
        for chunk in iter_chunks(_alerts_chunk, list(smiles), description="alerts", parallel=parallel)
        for hits in chunk
    ]


def structural_alerts(smiles: str) -> list[str]:
    """:func:`structural_alerts_many` for one molecule."""
    return structural_alerts_many([smiles])[0]
