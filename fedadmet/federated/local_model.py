"""The partner's best local model beside its federated one: the model a partner uses after joining.

A partner that joins a federation still holds the best model it could build alone (the core recipe on its
own training folds, trained by ``fedadmet federate gain``). The model it uses after joining averages the
two: the federated model's share is chosen on the partner's validation fold by the core recipe's rule for
blending trunk and trees (one weight for all endpoints, by mean rank; a tie keeps more of the local model),
so where the federation adds nothing on validation the partner keeps its local model. The local model is
kept in the prepared folder, with the labels it was trained on, and never leaves the partner.

Both models' outputs are averaged on the *averaging scale*: probabilities for classifiers (the local
model's are Platt-calibrated, the federated network's its plain sigmoid: the average is calibrated again
on validation by the partner's predictor) and the federation's z-scored values for regressors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fedadmet.data.catalogue import get_endpoint
from fedadmet.federated.prepare import recorded_manifest
from fedadmet.federated.task import PartnerData, scored_rows
from fedadmet.models.admet_model import ADMETModel
from fedadmet.models.artifacts import load_model, save_model
from fedadmet.models.blending import ValidationParts, choose_blend_weight
from fedadmet.models.config import ModelConfig
from fedadmet.models.targets import TargetScaling

LOCAL_MODEL_FOLDER = "local_best"  # in the prepared folder
LOCAL_RECORD_FILE = "local_best.json"  # beside it: which labels it was trained on, and how
LOCAL_SHARES = (1.0, 0.75, 0.5, 0.25, 0.0)  # the local model's share of the average, tried on validation


def local_outputs(model: ADMETModel, features: np.ndarray, tasks: Sequence[str], scaling: TargetScaling) -> np.ndarray:
    """The local model's predictions for feature rows of its feature set, one column per task, on the
    averaging scale (probabilities; values z-scored as the federation's ``scaling`` scales them)."""
    values = model.predict_features(features).values
    outputs = np.empty((len(features), len(tasks)), dtype=np.float64)
    for j, task in enumerate(tasks):
        predicted = np.asarray(values[task], dtype=np.float64)
        endpoint = get_endpoint(task)
        outputs[:, j] = (
            predicted if endpoint.is_classification else scaling.scale(j, endpoint.to_model_scale(predicted))
        )
    return outputs


def averaging_scale(raw: np.ndarray, classifiers: Sequence[bool]) -> np.ndarray:
    """A federated network's raw outputs (logits, z-scored values) on the averaging scale, which is also the
    scale the core recipe blends trunk and trees on."""
    values = np.array(raw, dtype=np.float64)
    columns = list(classifiers)
    values[:, columns] = 1.0 / (1.0 + np.exp(-values[:, columns]))
    return values


def choose_local_share(
    data: PartnerData, local: np.ndarray, federated: np.ndarray, shares: Sequence[float] = LOCAL_SHARES
) -> float:
    """The local model's share of the average with the federated model, chosen on the validation fold
    (both arrays: one row per compound of ``data``, on the averaging scale)."""
    parts = []
    for j in range(len(data.tasks)):
        rows = scored_rows(data, "valid", j)
        metric = "pr-auc" if data.is_classification[j] else "r2"
        part = ValidationParts(metric, data.targets[rows, j], local[rows, j], federated[rows, j])
        if part.usable and len(rows) >= 3:
            parts.append(part)
    return choose_blend_weight(parts, shares) if parts else 1.0


def after_joining(local: np.ndarray, federated: np.ndarray, local_share: float) -> np.ndarray:
    return local_share * local + (1.0 - local_share) * federated


def joined(data: PartnerData, local: np.ndarray, federated: np.ndarray) -> tuple[np.ndarray, float]:
    """The two models averaged (both on the averaging scale, a row per compound of ``data``), with the
    local share chosen on the validation fold."""
    share = choose_local_share(data, local, federated)
    return after_joining(local, federated, share), share


def save_local_model(data_dir: Path, model: ADMETModel, recipe: str, config: ModelConfig) -> Path:
    """Keep the partner's best local model in its prepared folder, recorded against the labels it learnt
    and with the recipe's ``config`` (tree size, blend weights), which the partner's kept federated model
    is then built with wherever it is averaged with this one, as ``federate gain`` assessed them."""
    folder = save_model(model, Path(data_dir) / LOCAL_MODEL_FOLDER)
    record = {
        "labels_sha256": recorded_manifest(data_dir)["files"]["labels.npz"],
        "recipe": recipe,
        "config": config.model_dump(mode="json"),
    }
    (Path(data_dir) / LOCAL_RECORD_FILE).write_text(json.dumps(record, indent=2))
    return folder


def load_local_model(data_dir: Path) -> tuple[ADMETModel, str, ModelConfig] | None:
    """The partner's best local model, its recipe and config, if ``federate gain`` kept one for these labels
    (a folder prepared again since has other labels: its old local model is not used)."""
    try:
        record = json.loads((Path(data_dir) / LOCAL_RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    if record.get("labels_sha256") != recorded_manifest(data_dir)["files"]["labels.npz"]:
        return None
    config = ModelConfig.model_validate(record.get("config", {}))
    return (
        load_model(Path(data_dir) / LOCAL_MODEL_FOLDER),
        str(record.get("recipe", "")),
        config,
    )  # damaged: ArtifactError
