"""Bemis-Murcko scaffolds, the grouping used for scaffold splits and non-IID partitions."""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold


def murcko_scaffold(smiles: str, include_chirality: bool = False) -> str:
    """Canonical Murcko scaffold SMILES; acyclic molecules share the empty scaffold ``""``."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return ""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=include_chirality)
