"""Endpoint frames (``smiles``: the standardised parent, both identity and what is featurised; label ``y``;
optional censoring ``relation``) as the rows and arrays models learn from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from fedadmet.data.catalogue import Endpoint

RELATION = "relation"  # -1 "<", +1 ">", 0 exact, as assay tables give it


def exact(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose label is a value, not a bound: what trees, scores and intervals can use."""
    return frame[frame[RELATION].to_numpy() == 0] if RELATION in frame else frame


def per_molecule(frame: pd.DataFrame, endpoint: Endpoint) -> pd.DataFrame:
    """One ``smiles``/``y`` row per parent molecule of ``frame``'s exact rows (source units): public sets
    hold a drug as its salt, its ion and its free base, which all featurise alike once standardised.
    Regression: the mean on the model's scale (the geometric mean for log-scaled endpoints);
    classification: the majority label, and a parent whose labels tie is dropped (they contradict)."""
    rows = exact(frame)
    grouped = pd.Series(endpoint.to_model_scale(rows["y"].to_numpy(dtype=float))).groupby(rows["smiles"].to_numpy())
    mean = grouped.mean()
    if endpoint.is_classification:
        mean = mean[mean != 0.5].round()
    values = mean.to_numpy() if endpoint.is_classification else endpoint.from_model_scale(mean.to_numpy())
    return pd.DataFrame({"smiles": mean.index.to_numpy(), "y": values})


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


def relation_matrix(
    frames: Mapping[str, pd.DataFrame], tasks: Sequence[str], molecules: Sequence[str]
) -> np.ndarray | None:
    """(molecules × tasks) censoring of :func:`label_matrix`'s labels, or None when no frame has any.

    A molecule's mean label is a bound only when all its rows are bounds the same way; else it counts as exact."""
    if not any(RELATION in frame for frame in frames.values()):
        return None
    position = {s: i for i, s in enumerate(molecules)}
    relations = np.zeros((len(molecules), len(tasks)), dtype=np.int8)
    for j, task in enumerate(tasks):
        frame = frames.get(task)
        if frame is None or RELATION not in frame:
            continue
        grouped = pd.Series(frame[RELATION].to_numpy()).groupby(frame["smiles"].to_numpy())
        shared = grouped.min().where(grouped.min() == grouped.max(), 0)
        relations[[position[s] for s in shared.index], j] = shared.to_numpy()
    return relations
