"""RDKit 2D descriptors that RDKit computes in Python loops over atoms and atom pairs, computed with NumPy.

The EState indices (read by 25 descriptors) and Balaban's J cost ~0.5 ms per molecule in RDKit's
pure-Python loops; here ~0.27 ms. Each takes the same inputs from RDKit and applies the same
floating-point operations in the same order (sums run sequentially, as Python's loops do), so every
value is bit-identical to RDKit's (the tests compare them on hundreds of drugs and edge cases): a model
trained on RDKit's values sees the same features. Chi0, Chi1 and the electron counts were tried too and
gained nothing: their cost is RDKit's per-atom Python API, which NumPy cannot avoid.

RDKit computes all 14 PEOE_VSA bins for each of the 14 PEOE_VSA descriptors (~0.27 ms a molecule); here they come
from one call of the same function (~0.04 ms). (Screening the 85 fr_ fragment counts with pattern fingerprints,
as the structural alerts are, saved 0.08 of their 0.54 ms: most fragments are too simple to be screened out.)
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdMolDescriptors
from rdkit.Chem.EState.EState import GetPrincipleQuantumNumber

_PERIODIC_TABLE = Chem.GetPeriodicTable()
_FAR = 1e6  # RDKit's distance for atoms in different fragments is 1e8; pairs at least this far are skipped


def _sequential_sum(values: np.ndarray) -> float:
    """``values[0] + values[1] + ...`` left to right, as a Python loop adds (``np.sum`` adds pairwise)."""
    return float(np.cumsum(values)[-1]) if len(values) else 0.0


def estate_indices(mol: Chem.Mol) -> np.ndarray:
    """Kier-Hall EState index of each atom: ``rdkit.Chem.EState.EStateIndices``."""
    n_atoms = mol.GetNumAtoms()
    intrinsic = np.zeros(n_atoms, dtype=np.float64)
    for i, atom in enumerate(mol.GetAtoms()):
        degree = atom.GetDegree()
        if degree > 0:
            number = atom.GetAtomicNum()
            valence = _PERIODIC_TABLE.GetNOuterElecs(number) - atom.GetTotalNumHs()
            shell = GetPrincipleQuantumNumber(number)
            intrinsic[i] = (4.0 / (shell * shell) * valence + 1) / degree
    path = Chem.GetDistanceMatrix(mol, useBO=False, useAtomWts=False) + 1
    # RDKit adds (I_i - I_j) / p**2 to atom i and subtracts it from atom j, pair by pair: for each atom
    # that is the row of these terms summed left to right (a subtraction is the negated term added).
    terms = np.where(path < _FAR, (intrinsic[:, None] - intrinsic[None, :]) / (path * path), 0.0)
    accumulated = np.cumsum(terms, axis=1)[:, -1] if n_atoms else np.zeros(0)
    return accumulated + intrinsic


def cache_estate_indices(mol: Chem.Mol) -> None:
    """Store the indices where RDKit's EState descriptors look for them when called with ``force`` off."""
    mol._eStateIndices = estate_indices(mol)


def balaban_j(mol: Chem.Mol) -> float:
    """Balaban's J: ``rdkit.Chem.GraphDescriptors.BalabanJ`` (which cannot take a molecule without atoms,
    where this gives 0.0; standardisation never lets one through)."""
    distances = Chem.GetDistanceMatrix(mol, useBO=True, useAtomWts=False, force=False, prefix="Balaban")
    adjacent = Chem.GetAdjacencyMatrix(mol, useBO=False, emptyVal=0, force=False, prefix="NoBO")
    n_atoms = mol.GetNumAtoms()
    # RDKit's vertex "degrees" are the column sums of the distance matrix, added row by row.
    sums = np.cumsum(distances, axis=0)[-1] if n_atoms else np.zeros(0)
    bonds = mol.GetNumBonds()
    cycles = bonds - n_atoms + 1
    pairs = np.triu(adjacent == 1)  # RDKit visits bonded pairs (i <= j) row by row: boolean indexing's order
    total = _sequential_sum(1.0 / np.sqrt(np.multiply.outer(sums, sums)[pairs]))
    return float(bonds) / float(cycles + 1) * total if cycles + 1 != 0 else 0.0


# Descriptor name -> the function here that gives RDKit's value.
FAST_EQUIVALENTS = {"BalabanJ": balaban_j}

PEOE_VSA_PREFIX = "PEOE_VSA"


def is_peoe_vsa(name: str) -> bool:
    return name.startswith(PEOE_VSA_PREFIX)


def peoe_vsa_bins(mol: Chem.Mol, names: tuple[str, ...]) -> np.ndarray:
    """RDKit's value of each ``PEOE_VSA<i>`` of ``names``, from one call of the function each of RDKit's makes."""
    bins = rdMolDescriptors.PEOE_VSA_(mol)
    return np.array([bins[int(name.removeprefix(PEOE_VSA_PREFIX)) - 1] for name in names], dtype=np.float64)
