"""Parsing and standardisation of molecules: the one place where SMILES become canonical structures.

Every later step (features, splits, leakage checks, caches) keys molecules by the canonical SMILES
made here, so two spellings of the same parent compound are the same molecule everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize

from fedadmet.config import get_settings

RDLogger.DisableLog("rdApp.*")


@dataclass(frozen=True)
class Reject:
    """A row that could not be used, with its 0-based position in the input and why."""

    index: int
    smiles: str
    reason: str


@dataclass
class StandardizedBatch:
    """Standardised molecules aligned to the input: ``smiles[i]`` is None exactly when row i was rejected."""

    smiles: list[str | None]
    rejects: list[Reject] = field(default_factory=list)

    @property
    def valid_indices(self) -> list[int]:
        return [i for i, s in enumerate(self.smiles) if s is not None]

    @property
    def valid_smiles(self) -> list[str]:
        return [s for s in self.smiles if s is not None]

    def reasons(self) -> dict[int, str]:
        return {r.index: r.reason for r in self.rejects}


_fragment_chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
_uncharger = rdMolStandardize.Uncharger()


def standardize_mol(mol: Chem.Mol) -> Chem.Mol:
    """Keep the largest organic fragment and neutralise it; stereochemistry is left untouched."""
    parent = _fragment_chooser.choose(mol)
    return _uncharger.uncharge(parent)


def standardize_smiles(smiles: object) -> tuple[str | None, str | None]:
    """Return ``(canonical_smiles, None)`` or ``(None, reason)`` for one input value."""
    settings = get_settings()
    if smiles is None or (isinstance(smiles, float) and smiles != smiles):
        return None, "missing SMILES (empty cell or unreadable record)"
    if not isinstance(smiles, str):
        return None, f"SMILES must be text, got {type(smiles).__name__}"
    text = smiles.strip()
    if not text:
        return None, "empty SMILES"
    if len(text) > settings.max_smiles_length:
        return None, f"SMILES longer than {settings.max_smiles_length} characters"
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        return None, f"RDKit cannot parse SMILES {text[:80]!r}"
    if mol.GetNumAtoms() == 0:
        return None, "molecule has no atoms"
    try:
        mol = standardize_mol(mol)
    except Exception as exc:  # RDKit raises several unrelated types for chemistry it cannot handle
        return None, f"standardisation failed: {exc}"
    heavy = mol.GetNumHeavyAtoms()
    if heavy == 0:
        return None, "molecule has no heavy atoms after standardisation"
    if heavy > settings.max_heavy_atoms:
        return None, f"molecule has {heavy} heavy atoms, more than the supported {settings.max_heavy_atoms}"
    canonical = Chem.MolToSmiles(mol)
    if Chem.MolFromSmiles(canonical) is None:
        # Every later step re-parses canonical SMILES, so a structure RDKit cannot read back is unusable.
        return None, "standardised structure does not round-trip through SMILES (RDKit cannot re-read it)"
    return canonical, None


def standardize_many(smiles: Iterable[object]) -> StandardizedBatch:
    """Standardise a column of SMILES, keeping row alignment and recording each reject with its reason."""
    out: list[str | None] = []
    rejects: list[Reject] = []
    seen: dict[str, tuple[str | None, str | None]] = {}  # data sets repeat molecules; standardise each once
    for index, value in enumerate(smiles):
        if isinstance(value, str):
            if value not in seen:
                seen[value] = standardize_smiles(value)
            canonical, reason = seen[value]
        else:
            canonical, reason = standardize_smiles(value)
        out.append(canonical)
        if reason is not None:
            rejects.append(Reject(index=index, smiles=str(value), reason=reason))
    return StandardizedBatch(smiles=out, rejects=rejects)


def mols_from_canonical(smiles: Sequence[str]) -> list[Chem.Mol]:
    """Re-parse canonical SMILES produced by :func:`standardize_smiles` (which always parse)."""
    return [Chem.MolFromSmiles(s) for s in smiles]
