"""Endpoint frames (``smiles``: the standardised parent, both identity and what is featurised; label ``y``;
optional censoring ``relation``; optional input ``form``, which form-dependent endpoints featurise instead)
as the rows and arrays models learn from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from fedadmet.chem.standardize import featurised_form
from fedadmet.data.catalogue import Endpoint, get_endpoint

RELATION = "relation"  # -1 "<", +1 ">", 0 exact, as assay tables give it
FORM = "form"  # the input form (salt, charge state) where a frame keeps it


def exact(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows whose label is a value, not a bound: what trees, scores and intervals can use."""
    return frame[frame[RELATION].to_numpy() == 0] if RELATION in frame else frame


def per_molecule(frame: pd.DataFrame, endpoint: Endpoint) -> pd.DataFrame:
    """One ``smiles``/``y`` row per parent molecule of ``frame``'s exact rows (source units): public sets
    hold a drug as its salt, its ion and its free base, which all featurise alike once standardised. For a
    form-dependent endpoint whose frame keeps forms, one row per form instead (with its parent and form).
    Regression: the mean on the model's scale (the geometric mean for log-scaled endpoints);
    classification: the majority label, and a parent whose labels tie is dropped (they contradict)."""
    rows = exact(frame)
    by_form = endpoint.form_dependent and FORM in rows
    keys = rows[FORM if by_form else "smiles"].to_numpy()
    mean = pd.Series(endpoint.to_model_scale(rows["y"].to_numpy(dtype=float))).groupby(keys).mean()
    if endpoint.is_classification:
        mean = mean[mean != 0.5].round()
    values = mean.to_numpy() if endpoint.is_classification else endpoint.from_model_scale(mean.to_numpy())
    if not by_form:
        return pd.DataFrame({"smiles": mean.index.to_numpy(), "y": values})
    parent_of = dict(zip(rows[FORM], rows["smiles"], strict=True))
    return pd.DataFrame({"smiles": [parent_of[form] for form in mean.index], "y": values, FORM: mean.index.to_numpy()})


def by_featurised_molecule(frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``frames`` keyed by what the model featurises for each endpoint: the form (isotope labels removed) for
    a form-dependent endpoint whose frame keeps forms, else the parent; the ``form`` column is dropped.
    Leakage rules compare parents, so they apply before this."""
    forms = featurises_form(frames)
    keyed = {}
    for name, frame in frames.items():
        if name in forms:
            frame = frame.assign(smiles=[featurised_form(form) for form in frame[FORM]])
        keyed[name] = frame.drop(columns=FORM, errors="ignore")
    return keyed


def featurises_form(frames: Mapping[str, pd.DataFrame]) -> set[str]:
    """The endpoints of ``frames`` whose heads learn from forms (:func:`by_featurised_molecule`)."""
    return {name for name, frame in frames.items() if FORM in frame and get_endpoint(name).form_dependent}


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
