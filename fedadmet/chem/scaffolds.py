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


def fold_group(smiles: str) -> str:
    """What a scaffold split keeps together: the Murcko scaffold, or for a molecule without rings the
    molecule itself (its canonical SMILES), since every acyclic molecule has the same empty scaffold and
    would otherwise fill one fold on its own."""
    scaffold = murcko_scaffold(smiles)
    if scaffold:
        return scaffold
    mol = Chem.MolFromSmiles(smiles)
    return f"acyclic:{Chem.MolToSmiles(mol)}" if mol is not None else ""
