"""The GBM heads' oblivious trees evaluated in NumPy, every head in one pass.

CatBoost's own ``predict`` spends ~0.45 ms setting up each call, so one molecule through 37 heads costs
~18 ms before a single tree is read: most of a one-molecule API request. Oblivious trees need no
set-up: each tree compares ``depth`` features with its borders, the comparison bits form the leaf index,
and the prediction is the sum of the leaves. Here that runs for all trees of all heads together at
~0.5 ms per molecule, whatever the batch size. The trees are CatBoost's own (exported as JSON), so the
raw values equal CatBoost's up to the order of the floating-point sum (~1e-13).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedadmet.exceptions import ArtifactError
from fedadmet.models.gbm import GBMModel

_ROWS_PER_BLOCK = 16  # rows evaluated together: larger blocks spill the [rows, trees] arrays out of cache
_PREFIX = "trees."
_ARRAYS = ("split_features", "split_borders", "leaf_values", "head_starts", "scale", "bias")
# Losses whose prediction is the raw score itself (a classifier's probability is its logistic); others
# (Poisson, Tweedie, ...) transform it.
_RAW_OUTPUT_LOSSES = frozenset({"RMSE", "Logloss", "CrossEntropy"})


@dataclass(frozen=True)
class ObliviousForest:
    """Trees of several heads side by side: ``split_*`` are ``[depth, trees]``, ``leaf_values`` is
    ``[trees * 2**depth]``; head ``h`` owns the trees from ``head_starts[h]`` to the next head's start.
    Trees shallower than ``depth`` are padded with splits no value passes (border +inf)."""

    heads: tuple[str, ...]
    split_features: np.ndarray
    split_borders: np.ndarray
    leaf_values: np.ndarray
    head_starts: np.ndarray
    scale: np.ndarray
    bias: np.ndarray

    @classmethod
    def from_catboost(cls, models: Mapping[str, GBMModel]) -> ObliviousForest:
        exported = [_export(name, model) for name, model in models.items()]
        depth = max((len(tree["splits"]) for trees, _, _ in exported for tree in trees), default=0)
        features, borders, leaves, starts = [], [], [], []
        for trees, _, _ in exported:
            starts.append(len(features))
            for tree in trees:
                padding = depth - len(tree["splits"])
                features.append([split["float_feature_index"] for split in tree["splits"]] + [0] * padding)
                borders.append([split["border"] for split in tree["splits"]] + [np.inf] * padding)
                values = np.asarray(tree["leaf_values"], dtype=np.float64)
                leaves.append(np.pad(values, (0, 2**depth - len(values))))
        return cls(
            heads=tuple(models),
            split_features=np.asarray(features, dtype=np.int32).reshape(len(features), depth).T.copy(),
            split_borders=np.asarray(borders, dtype=np.float32).reshape(len(borders), depth).T.copy(),
            leaf_values=np.concatenate(leaves) if leaves else np.zeros(0),
            head_starts=np.asarray(starts, dtype=np.int64),
            scale=np.asarray([scale for _, scale, _ in exported], dtype=np.float64),
            bias=np.asarray([bias for _, _, bias in exported], dtype=np.float64),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for a safetensors file (head names are stored by the caller, in the same order)."""
        return {_PREFIX + name: getattr(self, name) for name in _ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], heads: Sequence[str]) -> ObliviousForest | None:
        """The forest stored by :meth:`arrays`, or ``None`` where ``arrays`` holds none (older artifacts)."""
        stored = {key.removeprefix(_PREFIX): array for key, array in arrays.items() if key.startswith(_PREFIX)}
        if not stored:
            return None
        if set(stored) != set(_ARRAYS):
            raise ArtifactError(f"the stored trees have arrays {sorted(stored)}; expected {sorted(_ARRAYS)}")
        forest = cls(heads=tuple(heads), **stored)
        depth, n_trees = forest.split_features.shape
        consistent = (
            len(forest.head_starts) == len(forest.scale) == len(forest.bias) == len(heads)
            and forest.split_borders.shape == (depth, n_trees)
            and forest.leaf_values.shape == (n_trees << depth,)
            and bool(np.all(forest.tree_counts() > 0))
            and (len(heads) == 0 or forest.head_starts[0] == 0)
        )
        if not consistent:
            raise ArtifactError(f"the stored trees do not fit together or do not cover the {len(heads)} heads")
        return forest

    def tree_counts(self) -> np.ndarray:
        """Number of trees of each head."""
        return np.diff(np.append(self.head_starts, self.split_features.shape[1]))

    def raw(self, features: np.ndarray) -> np.ndarray:
        """``[rows, heads]`` raw scores (log-odds for classifiers, the value for regressors) of float32 features."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        depth, n_trees = self.split_features.shape
        index_type = np.min_scalar_type(2**depth - 1)  # uint8 up to depth 8, uint16 up to CatBoost's 16
        offsets = np.arange(n_trees, dtype=np.intp) << depth  # where each tree's leaves start
        blocks = [np.zeros((0, len(self.heads)))]
        for start in range(0, len(features), _ROWS_PER_BLOCK):
            rows = features[start : start + _ROWS_PER_BLOCK]
            leaf = np.zeros((len(rows), n_trees), dtype=index_type)
            for level in range(depth):
                passed = np.greater(np.take(rows, self.split_features[level], axis=1), self.split_borders[level])
                leaf |= np.left_shift(passed, level, dtype=index_type)
            values = np.take(self.leaf_values, leaf + offsets)
            sums = np.add.reduceat(values, self.head_starts, axis=1) if self.heads else np.zeros((len(rows), 0))
            blocks.append(sums * self.scale + self.bias)
        return np.concatenate(blocks)

    def predict(self, features: np.ndarray, is_classification: Sequence[bool]) -> np.ndarray:
        """What CatBoost's ``predict_proba(...)[:, 1]`` (classifiers) or ``predict`` (regressors) gives, per head."""
        raw = self.raw(features)
        classifier = np.asarray(is_classification, dtype=bool)
        raw[:, classifier] = 1.0 / (1.0 + np.exp(-raw[:, classifier]))
        return raw


def _export(name: str, model: GBMModel) -> tuple[list[dict], float, float]:
    """The model's trees, scale and bias, from CatBoost's documented JSON export."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save_model(str(path), format="json")
        exported = json.loads(path.read_text())
    trees = exported.get("oblivious_trees")
    scale, biases = exported.get("scale_and_bias", [1.0, [0.0]])
    loss = exported.get("model_info", {}).get("params", {}).get("loss_function", {}).get("type")
    features = exported.get("features_info", {}).get("float_features", [])
    unsupported = (
        not trees
        or loss not in _RAW_OUTPUT_LOSSES
        or any(feature.get("nan_value_treatment") == "AsTrue" for feature in features)
        or len(biases) != 1
        or any(len(tree["leaf_values"]) != 2 ** len(tree["splits"]) for tree in trees)
        or any(split.get("split_type") != "FloatFeature" for tree in trees for split in tree["splits"])
    )
    if unsupported:
        raise ArtifactError(
            f"head {name!r}: fedadmet predicts with single-output CatBoost models of (at least one) oblivious trees "
            f"on float features, with loss {' or '.join(sorted(_RAW_OUTPUT_LOSSES))} and NaN read as the minimum; "
            f"this one does not qualify (loss {loss}, {len(trees or [])} trees)"
        )
    return trees, float(scale), float(biases[0])
