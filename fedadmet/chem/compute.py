"""Feature computation for many molecules: cached by canonical SMILES, parallel across cores."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
from rdkit import rdBase

from fedadmet.chem.featurizers import Featurizer
from fedadmet.chem.parallel import ParallelOptions, iter_chunks
from fedadmet.chem.standardize import mols_from_canonical


def _featurize_chunk(featurizer: Featurizer, smiles: Sequence[str]) -> np.ndarray:
    return np.stack([featurizer(mol) for mol in mols_from_canonical(smiles)]).astype(np.float32)


class FeatureCache:
    """Append-only store of feature rows for one featurizer signature, one ``.npz`` shard per write."""

    def __init__(self, root: Path, signature: str) -> None:
        # The RDKit version is part of the key: an upgrade may change descriptor values.
        self.signature = f"{signature}|rdkit-{rdBase.rdkitVersion}"
        self.folder = root / hashlib.sha256(self.signature.encode()).hexdigest()[:16]

    def load(self) -> dict[str, np.ndarray]:
        rows: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("shard-*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                rows.update(zip(data["smiles"].tolist(), data["features"], strict=True))
        return rows

    def save(self, smiles: Sequence[str], features: np.ndarray) -> None:
        if not len(smiles):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "signature.txt").write_text(self.signature)
        index = len(list(self.folder.glob("shard-*.npz")))
        tmp = self.folder / f".shard-{index:05d}.tmp.npz"
        np.savez(tmp, smiles=np.asarray(smiles, dtype=str), features=features)
        tmp.rename(self.folder / f"shard-{index:05d}.npz")


def compute_features(
    smiles: Sequence[str],
    featurizer: Featurizer,
    *,
    parallel: ParallelOptions | None = None,
    cache_dir: Path | None = None,
    description: str = "features",
) -> np.ndarray:
    """Feature matrix (rows aligned to ``smiles``, which must be canonical) for ``featurizer``.

    Molecules already in the cache are not recomputed.
    """
    cache = FeatureCache(cache_dir, featurizer.signature) if cache_dir is not None else None
    known = cache.load() if cache is not None else {}
    missing = list(dict.fromkeys(s for s in smiles if s not in known))
    if missing:
        blocks = iter_chunks(partial(_featurize_chunk, featurizer), missing, description=description, parallel=parallel)
        new_rows = np.concatenate(list(blocks))
        if cache is not None:
            cache.save(missing, new_rows)
        known.update(zip(missing, new_rows, strict=True))
    if len(smiles) == 0:
        return np.zeros((0, len(featurizer)), dtype=np.float32)
    return np.stack([known[s] for s in smiles])
