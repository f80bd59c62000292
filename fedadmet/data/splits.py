"""Splits that return indices, and the leakage rule that keeps evaluation molecules out of training."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from fedadmet.chem.scaffolds import murcko_scaffold


def scaffold_split(
    smiles: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train/valid/test where no Murcko scaffold is shared between parts.

    Scaffold groups too big for the smaller parts go to train first; the rest are shuffled with
    ``seed`` and filled into valid and test until each reaches its share (chemprop's balanced split).
    """
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, value in enumerate(smiles):
        groups[murcko_scaffold(value)].append(index)
    n = len(smiles)
    valid_size, test_size = round(fractions[1] * n), round(fractions[2] * n)
    big = [g for g in groups.values() if len(g) > max(valid_size, test_size) / 2]
    small = [g for g in groups.values() if len(g) <= max(valid_size, test_size) / 2]
    rng = np.random.default_rng(seed)
    rng.shuffle(big)
    rng.shuffle(small)
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for group in big + small:
        if len(train) + len(group) <= n - valid_size - test_size:
            train += group
        elif len(valid) + len(group) <= valid_size:
            valid += group
        elif len(test) + len(group) <= test_size:
            test += group
        else:
            train += group
    return np.array(sorted(train), int), np.array(sorted(valid), int), np.array(sorted(test), int)


def without_molecules(frames: Mapping[str, pd.DataFrame], forbidden: Collection[str]) -> dict[str, pd.DataFrame]:
    """The leakage rule: drop every row whose canonical SMILES is forbidden, from every endpoint."""
    forbidden = set(forbidden)
    if not forbidden:
        return dict(frames)
    return {name: frame[~frame["smiles"].isin(forbidden)].reset_index(drop=True) for name, frame in frames.items()}


def leaked_molecules(training: Mapping[str, pd.DataFrame], evaluation: Collection[str]) -> set[str]:
    """Molecules of ``evaluation`` that occur anywhere in ``training`` (empty when the rule holds)."""
    seen = {s for frame in training.values() for s in frame["smiles"]}
    return seen & set(evaluation)


def molecule_set_hash(smiles: Collection[str]) -> str:
    """Order-free fingerprint of a set of canonical SMILES, recorded in model cards."""
    digest = hashlib.sha256()
    for value in sorted(set(smiles)):
        digest.update(value.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def split_for_validation(
    frames: Mapping[str, pd.DataFrame], fraction: float, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Per endpoint, hold out ``fraction`` of the rows by scaffold for early stopping and calibration."""
    train, valid = {}, {}
    for name, frame in frames.items():
        train_idx, valid_idx, _ = scaffold_split(frame["smiles"].tolist(), (1 - fraction, fraction, 0.0), seed)
        train[name] = frame.iloc[train_idx].reset_index(drop=True)
        valid[name] = frame.iloc[valid_idx].reset_index(drop=True)
    return train, valid
