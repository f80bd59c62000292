"""Molecules as graphs for a message-passing network: atom and directed-bond feature arrays, batched.

The features follow the D-MPNN of Yang et al. 2019 (chemprop's v2 atom and bond featurisation: element,
degree, formal charge, chirality, hydrogens, hybridisation, aromaticity and mass per atom; bond order,
conjugation, ring membership and stereo per bond), so that what the graph member learns can be compared
with ADMET-AI's chemprop models. Plain NumPy out: training (PyTorch) and serving (NumPy) read the same arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

_ELEMENTS = (*range(1, 37), 53)  # H to Kr and iodine; anything else falls into "other"
_DEGREES = (0, 1, 2, 3, 4, 5)
_FORMAL_CHARGES = (-1, -2, 1, 2, 0)
_CHIRAL_TAGS = (0, 1, 2, 3)
_HYDROGENS = (0, 1, 2, 3, 4)
_HYBRIDISATIONS = (
    Chem.HybridizationType.S,
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP2D,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
)
_BOND_TYPES = (Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE, Chem.BondType.AROMATIC)
_BOND_STEREO = tuple(range(7))


def _slots(choices: Sequence[int]) -> tuple[np.ndarray, int]:
    """A lookup from value to one-hot slot (one slot per choice, the last for anything else) and its width.
    Values are offset so that negative ones (formal charges) index too."""
    table = np.full(256, len(choices), dtype=np.int64)
    table[np.asarray(choices) + 128] = np.arange(len(choices))
    return table, len(choices) + 1


_ATOM_SLOTS = [
    _slots(choices)
    for choices in (_ELEMENTS, _DEGREES, _FORMAL_CHARGES, _CHIRAL_TAGS, _HYDROGENS, [int(h) for h in _HYBRIDISATIONS])
]
_STEREO_SLOTS = _slots(_BOND_STEREO)
_BOND_TYPE_SLOTS = {kind: i for i, kind in enumerate(_BOND_TYPES)}
ATOM_FEATURES = sum(width for _, width in _ATOM_SLOTS) + 2  # and aromaticity, mass / 100
BOND_FEATURES = len(_BOND_TYPES) + 2 + _STEREO_SLOTS[1]  # and conjugation, ring membership


def _one_hot(values: np.ndarray, slots: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Rows of concatenated one-hot blocks, one block per column of ``values`` (integers)."""
    out = np.zeros((len(values), sum(width for _, width in slots)), dtype=np.float32)
    offset, rows = 0, np.arange(len(values))
    for column, (table, width) in enumerate(slots):
        out[rows, offset + table[values[:, column] + 128]] = 1.0  # RDKit's values here lie within ±128
        offset += width
    return out


def atom_features(atoms: Sequence[Chem.Atom]) -> np.ndarray:
    """One row per atom: element, degree, formal charge, chiral tag, hydrogens and hybridisation one-hot,
    then aromaticity and mass / 100."""
    codes = np.array(
        [
            (
                a.GetAtomicNum(),
                a.GetTotalDegree(),
                a.GetFormalCharge(),
                int(a.GetChiralTag()),
                a.GetTotalNumHs(),
                int(a.GetHybridization()),
                a.GetIsAromatic(),
            )
            for a in atoms
        ],
        dtype=np.int64,
    ).reshape(-1, len(_ATOM_SLOTS) + 1)
    mass = (0.01 * np.array([a.GetMass() for a in atoms], dtype=np.float64)).astype(np.float32).reshape(-1, 1)
    return np.hstack([_one_hot(codes[:, :-1], _ATOM_SLOTS), codes[:, -1:].astype(np.float32), mass])


def bond_features(bonds: Sequence[Chem.Bond]) -> np.ndarray:
    """One row per bond: order (single, double, triple, aromatic; none of these for others), conjugation,
    ring membership and stereo one-hot."""
    codes = np.array(
        [
            (_BOND_TYPE_SLOTS.get(b.GetBondType(), -1), b.GetIsConjugated(), b.IsInRing(), int(b.GetStereo()))
            for b in bonds
        ],
        dtype=np.int64,
    ).reshape(-1, 4)
    order = np.zeros((len(codes), len(_BOND_TYPES) + 1), dtype=np.float32)  # a last slot for other orders
    order[np.arange(len(codes)), codes[:, 0]] = 1.0
    return np.hstack([order[:, :-1], codes[:, 1:3].astype(np.float32), _one_hot(codes[:, 3:], [_STEREO_SLOTS])])


@dataclass(frozen=True)
class MolGraph:
    """One molecule: atom features (atoms × ATOM_FEATURES) and, per directed bond (two per bond, the pair
    adjacent), its features, source and target atom. Bond ``2k`` and ``2k + 1`` are each other's reverse."""

    atoms: np.ndarray
    bonds: np.ndarray
    source: np.ndarray
    target: np.ndarray


def mol_graph(mol: Chem.Mol) -> MolGraph:
    bonds = list(mol.GetBonds())  # RDKit's atom and bond sequences are slow to walk: once each
    ends = np.array([(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in bonds], dtype=np.int64).reshape(-1, 2)
    return MolGraph(
        atom_features(list(mol.GetAtoms())),
        np.repeat(bond_features(bonds), 2, axis=0),  # each bond both ways, the pair adjacent
        ends.reshape(-1),  # begin→end, then end→begin
        ends[:, ::-1].reshape(-1),
    )


def graphs_from_smiles(smiles: Sequence[str]) -> list[MolGraph | None]:
    """A graph per SMILES (standardised parents, as the model's other features read them); None where RDKit
    cannot parse one or it has no atoms."""
    graphs: list[MolGraph | None] = []
    for text in smiles:
        mol = Chem.MolFromSmiles(text) if isinstance(text, str) else None
        graphs.append(mol_graph(mol) if mol is not None and mol.GetNumAtoms() else None)
    return graphs


@dataclass(frozen=True)
class GraphBatch:
    """Several molecules as one disconnected graph: atom and bond arrays stacked, bond ends and reverses
    offset into the stacked atoms, and the molecule each atom belongs to."""

    atoms: np.ndarray
    bonds: np.ndarray
    source: np.ndarray
    target: np.ndarray
    reverse: np.ndarray
    molecule: np.ndarray
    molecules: int

    @classmethod
    def of(cls, graphs: Sequence[MolGraph]) -> GraphBatch:
        atom_counts = np.array([len(g.atoms) for g in graphs], dtype=np.int64)
        bond_counts = np.array([len(g.bonds) for g in graphs], dtype=np.int64)
        atom_offsets = np.repeat(np.concatenate([[0], np.cumsum(atom_counts)[:-1]]), bond_counts)
        n_bonds = int(bond_counts.sum())
        empty = np.zeros(0, dtype=np.int64)
        return cls(
            atoms=np.concatenate([g.atoms for g in graphs]) if graphs else np.zeros((0, ATOM_FEATURES), np.float32),
            bonds=np.concatenate([g.bonds for g in graphs]) if graphs else np.zeros((0, BOND_FEATURES), np.float32),
            source=(np.concatenate([g.source for g in graphs]) if graphs else empty) + atom_offsets,
            target=(np.concatenate([g.target for g in graphs]) if graphs else empty) + atom_offsets,
            reverse=np.arange(n_bonds, dtype=np.int64) ^ 1,
            molecule=np.repeat(np.arange(len(graphs), dtype=np.int64), atom_counts),
            molecules=len(graphs),
        )
