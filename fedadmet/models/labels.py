"""Endpoint frames (``smiles`` identity, optional ``form``, label ``y``) as the arrays networks learn from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd


def forms(frame: pd.DataFrame) -> pd.Series:
    """What each row featurises: its canonical input ``form`` where the frame has one, else its identity."""
    return frame["form"] if "form" in frame else frame["smiles"]


def label_matrix(
    frames: Mapping[str, pd.DataFrame],
    tasks: Sequence[str],
    molecules: Sequence[str],
    labels: Callable[[int, pd.DataFrame], np.ndarray],
) -> np.ndarray:
    """(molecules × tasks) matrix of each molecule's mean label per task, NaN where it has none.

    ``labels(j, frame)`` gives task j's labels on the scale the network learns; a molecule measured
    several times (e.g. in several salt forms) counts once, with the mean."""
    position = {s: i for i, s in enumerate(molecules)}
    targets = np.full((len(molecules), len(tasks)), np.nan, dtype=np.float32)
    for j, task in enumerate(tasks):
        if task not in frames:
            continue
        frame = frames[task]
        per_molecule = pd.Series(labels(j, frame)).groupby(frame["smiles"].to_numpy()).mean()
        targets[[position[s] for s in per_molecule.index], j] = per_molecule.to_numpy()
    return targets
