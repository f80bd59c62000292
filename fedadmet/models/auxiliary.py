"""Predictions of public side-data tasks (PharmaBench, CYP1A2/CYP2C19, Tox21, ...) as extra GBM features.

A GBM head sees only its own endpoint's labels. Related public measurements (logD for lipophilicity,
human microsomal clearance for the AZ clearances, plasma protein binding for PPBR) carry signal it
cannot learn from its few hundred rows, so small networks are trained on those tasks and their
predictions join the head's feature vector, the way MapLight+GNN feeds learned features to CatBoost.

The networks are trained in K folds. A molecule that is itself in the side data gets the prediction
of the fold that never saw it (out-of-fold); any other molecule gets the mean of the K folds. Without
that, a training molecule's "prediction" would be its memorised label while a new molecule's would
not, and the trees would learn to trust a feature that fails on new chemistry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import FeatureSet
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.models.config import AuxiliaryConfig
from fedadmet.models.labels import label_matrix, relation_matrix
from fedadmet.models.preprocess import FeatureScaler
from fedadmet.models.targets import TargetScaling
from fedadmet.models.trunk_weights import NetworkEnsemble

SideFrames = Mapping[str, pd.DataFrame]


def is_binary(labels: np.ndarray) -> bool:
    """Side tasks carry no catalogue entry: 0/1 labels make a classification task."""
    return bool(np.isin(np.unique(labels), (0.0, 1.0)).all())


@dataclass
class AuxiliaryPredictor:
    """K fold networks over the feature vector, one output per side task (logit or z-scored value)."""

    tasks: list[str]
    scaler: FeatureScaler
    folds: NetworkEnsemble

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Mean of the fold networks: the features of a molecule none of them was held out from."""
        return self.folds(self.scaler.transform(features))


@dataclass
class FittedAuxiliary:
    """A trained predictor and the out-of-fold predictions of the molecules (identities) it trained on."""

    predictor: AuxiliaryPredictor
    out_of_fold: dict[str, np.ndarray]

    def features_for(self, identities: Sequence[str], features: np.ndarray) -> np.ndarray:
        """Side-task features for rows of ``features`` whose molecules are ``identities``."""
        out = self.predictor(features)
        for i, identity in enumerate(identities):
            held_out = self.out_of_fold.get(identity)
            if held_out is not None:
                out[i] = held_out
        return out


def fit_auxiliary(
    frames: SideFrames,
    feature_set: FeatureSet,
    config: AuxiliaryConfig,
    seed: int,
    cache_dir: Path | None = None,
    parallel: ParallelOptions | None = None,
) -> FittedAuxiliary:
    """Train the K fold networks on ``frames`` (``smiles``/``y`` on the model scale); ``parallel``:
    worker processes and threads (default: every core, no progress bars)."""
    parallel = parallel or ParallelOptions(progress=False)
    import torch  # training only, as for the trunk

    from fedadmet.models.trainer import NetworkTrainer, TaskMatrix
    from fedadmet.models.trunk import MultitaskNet

    tasks = sorted(frames)
    identities = sorted({s for frame in frames.values() for s in frame["smiles"]})
    features = compute_features(identities, feature_set, cache_dir=cache_dir, parallel=parallel)
    scaler = FeatureScaler.fit(features)
    scaled = scaler.transform(features)
    kinds = np.array([is_binary(frames[task]["y"].to_numpy(dtype=float)) for task in tasks])
    scaling = TargetScaling.fit([frames[task]["y"].to_numpy(dtype=float) for task in tasks], kinds)
    targets = label_matrix(frames, tasks, identities, lambda j, frame: scaling.scale(j, frame["y"].to_numpy(float)))
    relations = relation_matrix(frames, tasks, identities)

    rng = np.random.default_rng(seed)
    fold_of = rng.integers(0, config.folds, len(identities))
    out_of_fold = np.zeros((len(identities), len(tasks)), dtype=np.float32)
    nets = []
    torch.set_num_threads(parallel.n_jobs)
    for k in range(config.folds):
        rows = np.flatnonzero(fold_of != k)
        stopping = rng.random(len(rows)) < config.early_stopping_fraction
        net = MultitaskNet.seeded(len(feature_set), tasks, config.network, seed * 100 + k)
        NetworkTrainer(config.network).fit(
            net,
            TaskMatrix(scaled[rows[~stopping]], targets[rows[~stopping]], kinds, _rows(relations, rows[~stopping])),
            TaskMatrix(scaled[rows[stopping]], targets[rows[stopping]], kinds, _rows(relations, rows[stopping])),
            seed * 100 + k,
            parallel.progress,
        )
        weights = net.weights()
        held_out = np.flatnonzero(fold_of == k)
        out_of_fold[held_out] = weights(scaled[held_out])
        nets.append(weights)
    predictor = AuxiliaryPredictor(tasks, scaler, NetworkEnsemble(nets))
    return FittedAuxiliary(predictor, dict(zip(identities, out_of_fold, strict=True)))


def _rows(relations: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if relations is None else relations[rows]
