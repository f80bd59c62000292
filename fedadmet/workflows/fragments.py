"""The CReM fragment database the crem generator needs: built once from bundled public molecules and
cached under FEDADMET_HOME."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rdkit import Chem

from fedadmet.config import Settings
from fedadmet.data.public import bundled_path
from fedadmet.design.fragments import build_fragment_database

SOURCE = ("examples", "drugbank_approved.csv.gz")
MAX_HEAVY_ATOMS = 25  # larger molecules multiply fragments (and build time) for few new contexts


def fragment_database(settings: Settings) -> Path:
    """The cached database, built first if it is missing (minutes, once per FEDADMET_HOME)."""
    target = settings.home / "design" / "crem_fragments_r3.db"
    if not target.is_file():
        build_fragment_database(_source_molecules(), target, settings.n_jobs)
    return target


def _source_molecules() -> list[str]:
    """Canonical, single-fragment bundled drugs of at most :data:`MAX_HEAVY_ATOMS` heavy atoms."""
    chosen: dict[str, None] = {}
    for text in pd.read_csv(bundled_path(*SOURCE))["smiles"].dropna():
        mol = Chem.MolFromSmiles(text) if "." not in text else None
        if mol is not None and mol.GetNumHeavyAtoms() <= MAX_HEAVY_ATOMS:
            chosen[Chem.MolToSmiles(mol)] = None
    return list(chosen)
