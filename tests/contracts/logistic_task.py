"""A deliberately tiny FederatedTask: logistic regression on a synthetic table, nothing molecular.

It lives in the tests to prove that the federation runtime (Flower apps, strategy, SecAgg+, checkpoints,
registry records) serves any model that speaks the protocol."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedadmet.federated.protocol import (
    VALID_SCORE,
    Arrays,
    EvaluateResult,
    FitResult,
    Partners,
    RoundInfo,
    register_task,
    replaces_kept,
)
from fedadmet.names import check_distinct_partners

N_FEATURES = 4
TRUE_WEIGHTS = np.array([1.5, -2.0, 0.5, 1.0])


def write_partner(folder: Path, name: str, rows: int = 200, seed: int = 0) -> Path:
    """A partner folder: its name and a table of features and 0/1 labels from one shared true model."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    labels = (features @ TRUE_WEIGHTS + rng.normal(scale=0.5, size=rows) > 0).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "partner.json").write_text(json.dumps({"name": name}))
    np.savez(folder / "table.npz", features=features, labels=labels)
    return folder


@register_task("tiny-logistic")
class LogisticTask:
    name = "tiny-logistic"

    def initial_parameters(self, options: Mapping[str, Any]) -> Arrays:
        return {"bias": np.zeros(1, np.float32), "weights": np.zeros(N_FEATURES, np.float32)}

    def open_partner(
        self, data_dir: Path, options: Mapping[str, Any], private: Mapping[str, np.ndarray]
    ) -> LogisticSession:
        table = np.load(Path(data_dir) / "table.npz")
        return LogisticSession(
            self.partner_name(data_dir), Path(data_dir), table["features"], table["labels"], options, dict(private)
        )

    def partner_name(self, data_dir: Path) -> str:
        try:
            return str(json.loads((Path(data_dir) / "partner.json").read_text())["name"])
        except (OSError, ValueError, KeyError):
            return Path(data_dir).name

    def check_partners(self, data_dirs: Sequence[Path]) -> Partners:
        names = [self.partner_name(folder) for folder in data_dirs]
        check_distinct_partners(names)
        return Partners(names)


class LogisticSession:
    """Rows 0-79 % train, the rest validate; the private state counts this partner's local steps."""

    def __init__(
        self, partner: str, folder: Path, x: np.ndarray, y: np.ndarray, options: Mapping[str, Any], private: Arrays
    ) -> None:
        split = int(0.8 * len(x))
        self.partner, self.folder, self.options, self.private = partner, folder, options, private
        self.train, self.valid = (x[:split], y[:split]), (x[split:], y[split:])

    def fit(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> FitResult:
        weights, bias = shared["weights"].astype(np.float64), shared["bias"].astype(np.float64)
        x, y = self.train
        rate = float(self.options.get("learning_rate", 0.5))
        for _ in range(int(self.options.get("local_steps", 5))):
            error = _sigmoid(x @ weights + bias) - y
            weights, bias = weights - rate * x.T @ error / len(y), bias - rate * error.mean()
        steps = self.private.get("steps", np.zeros(1, np.int64)) + 1
        loss = float(_log_loss(y, _sigmoid(x @ weights + bias)))
        parameters = {"bias": bias.astype(np.float32), "weights": weights.astype(np.float32)}
        return FitResult(parameters, len(y), {"train_loss": loss}, {"steps": steps})

    def evaluate(self, shared: Mapping[str, np.ndarray], round: RoundInfo) -> EvaluateResult:
        x, y = self.valid
        predicted = _sigmoid(x @ shared["weights"] + shared["bias"]) > 0.5
        return EvaluateResult(len(y), {VALID_SCORE: float((predicted == y).mean())})

    def keep(self, shared: Mapping[str, np.ndarray], round: RoundInfo, evaluation: EvaluateResult) -> None:
        kept_file = self.folder / "kept" / f"run-{round.run_id}.json"
        kept = json.loads(kept_file.read_text()) if kept_file.is_file() else {VALID_SCORE: -np.inf, "trunk_round": 0}
        if replaces_kept(kept, float(evaluation.metrics[VALID_SCORE]), round.trunk_round):
            kept_file.parent.mkdir(exist_ok=True)
            record = {VALID_SCORE: evaluation.metrics[VALID_SCORE], "trunk_round": round.trunk_round}
            kept_file.write_text(json.dumps(record | {k: v.tolist() for k, v in shared.items()}))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
