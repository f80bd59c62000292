"""Feature computation for many molecules: cached by canonical SMILES, parallel across cores."""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
from rdkit import rdBase
from tqdm.auto import tqdm

from fedadmet.chem.featurizers import Featurizer
from fedadmet.chem.standardize import mols_from_canonical
from fedadmet.config import get_settings

_CHUNK = 256
# Workers use RDKit and numpy only (never torch), so "fork" is safe and needs no __main__ guard.


Result = TypeVar("Result")


def map_chunks(
    function: Callable[[Sequence[str]], Result],
    smiles: Sequence[str],
    *,
    description: str,
    n_jobs: int | None = None,
    progress: bool | None = None,
) -> list[Result]:
    """``function`` over chunks of ``smiles``, in order; large inputs go to worker processes with a progress bar,
    small ones stay in-process where start-up would dominate."""
    settings = get_settings()
    n_jobs = settings.n_jobs if n_jobs is None else n_jobs
    progress = settings.progress if progress is None else progress
    chunks = [smiles[i : i + _CHUNK] for i in range(0, len(smiles), _CHUNK)]
    results: list[Result] = []
    with tqdm(total=len(smiles), desc=description, unit="mol", disable=not progress or len(smiles) < 500) as bar:
        if n_jobs > 1 and len(smiles) >= settings.parallel_threshold:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
                for chunk, result in zip(chunks, pool.map(function, chunks), strict=True):
                    results.append(result)
                    bar.update(len(chunk))
        else:
            for chunk in chunks:
                results.append(function(chunk))
                bar.update(len(chunk))
    return results


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
    n_jobs: int | None = None,
    progress: bool | None = None,
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
        blocks = map_chunks(
            partial(_featurize_chunk, featurizer), missing, description=description, n_jobs=n_jobs, progress=progress
        )
        new_rows = np.concatenate(blocks)
        if cache is not None:
            cache.save(missing, new_rows)
        known.update(zip(missing, new_rows, strict=True))
    if len(smiles) == 0:
        return np.zeros((0, len(featurizer)), dtype=np.float32)
    return np.stack([known[s] for s in smiles])
