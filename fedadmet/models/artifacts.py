"""Reading and writing a model folder: weights in safetensors and CatBoost .cbm files, a JSON model card.

Nothing is pickled, so a model folder that came over a network can be read safely.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from catboost import CatBoostError
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

import fedadmet
from fedadmet.chem.featurizers import default_feature_set, feature_set_for
from fedadmet.data.catalogue import get_endpoint
from fedadmet.exceptions import ArtifactError
from fedadmet.models.admet_model import ADMETModel, EndpointHead
from fedadmet.models.auxiliary import AuxiliaryPredictor
from fedadmet.models.calibration import ConformalRegressor, PlattCalibrator
from fedadmet.models.config import ModelConfig
from fedadmet.models.domain import ApplicabilityDomain
from fedadmet.models.gbm import load_gbm
from fedadmet.models.graph_weights import GraphMember, GraphWeights
from fedadmet.models.preprocess import FeatureScaler
from fedadmet.models.targets import TargetScaling
from fedadmet.models.trees import ObliviousForest
from fedadmet.models.trunk_weights import NetworkEnsemble, TrunkWeights

ARTIFACT_FORMAT = 1
CARD_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
log = logging.getLogger(__name__)


def check_model_destination(folder: Path) -> None:
    """A model folder replaces ``folder`` whole, so it may only be new, empty or a model folder: checked
    before training too, so that a wrong ``-o`` does not cost a whole run."""
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()) and not (folder / CARD_FILE).is_file():
        raise ArtifactError(f"{folder} holds files but no model; write the model to a new or empty folder")
    if folder.exists() and not folder.is_dir():
        raise ArtifactError(f"{folder} is a file; write the model to a new or empty folder")


def save_model(model: ADMETModel, folder: Path) -> Path:
    """Write weights (safetensors, CatBoost .cbm) and JSON metadata; nothing is pickled.

    The model is written beside ``folder`` and then put in its place, so a model already there is
    replaced whole, and an interrupted save leaves it untouched rather than half old, half new."""
    folder = Path(folder).resolve()  # "." has no name to put a sibling beside
    check_model_destination(folder)
    partial, replaced = folder.with_name(f".{folder.name}.partial"), folder.with_name(f".{folder.name}.replaced")
    for leftover in (partial, replaced):
        shutil.rmtree(leftover, ignore_errors=True)
    _write(model, partial)
    if folder.exists():
        folder.rename(replaced)
    partial.rename(folder)
    shutil.rmtree(replaced, ignore_errors=True)
    return folder


def load_model(folder: Path) -> ADMETModel:
    """The model in ``folder``; a missing, damaged or foreign one is an :class:`ArtifactError`."""
    folder = Path(folder)
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise ArtifactError(f"no model at {folder}: model.json is missing (train one with `fedadmet train`)")
    try:
        return _read(folder, json.loads(card_path.read_text()))
    except (OSError, ValueError, KeyError, TypeError, CatBoostError, SafetensorError) as exc:
        raise ArtifactError(
            f"the model at {folder} is damaged or incomplete ({type(exc).__name__}: {exc}); "
            "train it again or restore the folder as `fedadmet train` wrote it"
        ) from None


def _write(model: ADMETModel, folder: Path) -> None:
    (folder / "gbm").mkdir(parents=True)
    tensors = _ensemble_arrays(model.trunk, _trunk_prefix)
    tensors |= {
        "scaler.mean": model.scaler.mean,
        "scaler.std": model.scaler.std,
        "target.mean": model.targets.mean.astype(np.float64),
        "target.std": model.targets.std.astype(np.float64),
        "domain.reference_bits": model.domain.reference_bits,
        "domain.membership": model.domain.membership,
    }
    if model.auxiliary is not None:
        tensors |= _auxiliary_arrays(model.auxiliary)
    if model.graph is not None:
        tensors |= {
            f"{_graph_prefix(k)}{key}": v for k, net in enumerate(model.graph.networks) for key, v in net.state.items()
        }
    tensors |= model.head_forest().arrays()
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, folder / WEIGHTS_FILE)
    heads = {}
    for name, head in model.heads.items():
        file_name = f"{_safe_file_name(name)}.cbm"
        head.gbm.save_model(str(folder / "gbm" / file_name), format="cbm")
        heads[name] = {
            "gbm_file": file_name,
            "gbm_weight": head.gbm_weight,
            "platt": vars(head.platt) if head.platt else None,
            "conformal": vars(head.conformal) if head.conformal else None,
            "validation": head.validation,
            "featurises_form": head.featurises_form,
        }
    auxiliary = model.auxiliary
    card = {
        "format": ARTIFACT_FORMAT,
        "fedadmet_version": fedadmet.__version__,
        "config": model.config.model_dump(mode="json"),
        "feature_signature": model.feature_set.signature,
        "tasks": model.trunk.tasks,
        "heads": heads,
        "domain": {
            "n_bits": model.domain.n_bits,
            "threshold": model.domain.threshold,
            "endpoints": list(model.domain.endpoints),
            "thresholds": model.domain.thresholds.tolist(),
        },
        "auxiliary": {"tasks": auxiliary.tasks, "folds": len(auxiliary.folds)} if auxiliary else None,
        "graph": None
        if model.graph is None
        else {
            "networks": len(model.graph.networks),
            "depth": model.graph.networks[0].depth,
            "extra_columns": model.graph.extra_columns,
            "tasks": model.graph.tasks,
        },
        "metadata": model.metadata,
    }
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2, default=_json_default))
    shutil.copymode(folder / CARD_FILE, folder / WEIGHTS_FILE)  # safetensors writes it 0600


def _read(folder: Path, card: dict[str, Any]) -> ADMETModel:
    if card.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"model format {card.get('format')!r} at {folder}; this fedadmet reads {ARTIFACT_FORMAT}")
    feature_set = feature_set_for(card["feature_signature"])
    if feature_set is None:
        raise ArtifactError(
            f"model was trained with features {card['feature_signature']}; this fedadmet computes "
            f"{default_feature_set().signature}"
        )
    tensors = load_file(folder / WEIGHTS_FILE)
    # A model saved before its trunk was an ensemble has one member, and its config no such field.
    config = ModelConfig.model_validate({"trunk_members": 1, **card["config"]})
    trunk = _ensemble_from_arrays(tensors, card["tasks"], config.trunk_members, _trunk_prefix)
    heads = {}
    for name, entry in card["heads"].items():
        endpoint = get_endpoint(name)
        heads[name] = EndpointHead(
            endpoint=endpoint,
            gbm=load_gbm(str(folder / "gbm" / entry["gbm_file"]), endpoint.is_classification),
            gbm_weight=entry["gbm_weight"],
            platt=PlattCalibrator(**entry["platt"]) if entry["platt"] else None,
            conformal=ConformalRegressor(**entry["conformal"]) if entry["conformal"] else None,
            validation=entry["validation"],
            featurises_form=entry.get("featurises_form", False),  # models saved before it learned from parents
        )
    kinds = np.array([get_endpoint(task).is_classification for task in card["tasks"]], dtype=bool)
    auxiliary = card.get("auxiliary")
    graph = card.get("graph")  # absent in models saved before graph members
    return ADMETModel(
        config,
        feature_set,
        FeatureScaler(tensors["scaler.mean"], tensors["scaler.std"]),
        trunk,
        TargetScaling(tensors["target.mean"], tensors["target.std"], kinds),
        heads,
        _domain(tensors, card["domain"]),
        card["metadata"],
        auxiliary=_auxiliary_from_arrays(tensors, auxiliary["tasks"], auxiliary["folds"]) if auxiliary else None,
        graph=_graph_from_arrays(tensors, graph.get("tasks", card["tasks"]), graph) if graph else None,
        forest=_stored_forest(tensors, heads),
    )


def _domain(tensors: Mapping[str, np.ndarray], card: Mapping[str, Any]) -> ApplicabilityDomain:
    """The stored domain; a model saved before endpoints had their own domain scores every endpoint
    against all its references (``endpoints`` absent)."""
    endpoints = card.get("endpoints", [])
    return ApplicabilityDomain(
        tensors["domain.reference_bits"],
        card["n_bits"],
        card["threshold"],
        endpoints=tuple(endpoints),
        membership=tensors["domain.membership"] if endpoints else np.zeros((0, 0), np.uint8),
        thresholds=np.asarray(card.get("thresholds", []), dtype=np.float64),
    )


def _trunk_prefix(k: int) -> str:
    """Member 0 keeps the key prefix of the single trunk that models had before, so they still load."""
    return "net." if k == 0 else f"net{k}."


def _graph_prefix(k: int) -> str:
    return f"graph{k}."


def _graph_from_arrays(tensors: Mapping[str, np.ndarray], tasks: Sequence[str], card: Mapping[str, Any]) -> GraphMember:
    states = _networks_states(tensors, card["networks"], _graph_prefix)
    networks = [GraphWeights.from_arrays(state, tasks, card["depth"]) for state in states]
    columns = card["extra_columns"]
    return GraphMember(networks, None if columns is None else (int(columns[0]), int(columns[1])))


def _fold_prefix(k: int) -> str:
    return f"auxiliary.fold{k}."


def _networks_arrays(states: Sequence[Mapping[str, np.ndarray]], prefix: Callable[[int], str]) -> dict[str, np.ndarray]:
    """Several networks' weights in one flat mapping, network ``k``'s keys under ``prefix(k)``."""
    return {f"{prefix(k)}{key}": value for k, state in enumerate(states) for key, value in state.items()}


def _networks_states(
    tensors: Mapping[str, np.ndarray], count: int, prefix: Callable[[int], str]
) -> list[dict[str, np.ndarray]]:
    """The weights of networks ``0 .. count - 1`` read back from :func:`_networks_arrays`'s mapping."""
    states = []
    for k in range(count):
        start = prefix(k)
        state = {key[len(start) :]: value for key, value in tensors.items() if key.startswith(start)}
        if not state:
            raise KeyError(f"network {start[:-1]} is missing from the weights")
        states.append(state)
    return states


def _ensemble_arrays(ensemble: NetworkEnsemble, prefix: Callable[[int], str]) -> dict[str, np.ndarray]:
    return _networks_arrays([net.state for net in ensemble.members], prefix)


def _ensemble_from_arrays(
    tensors: Mapping[str, np.ndarray], tasks: Sequence[str], n_members: int, prefix: Callable[[int], str]
) -> NetworkEnsemble:
    return NetworkEnsemble(
        [TrunkWeights.from_arrays(state, tasks) for state in _networks_states(tensors, n_members, prefix)]
    )


def _auxiliary_arrays(predictor: AuxiliaryPredictor) -> dict[str, np.ndarray]:
    """The side-task predictor's weights under ``auxiliary.*`` keys."""
    out = {"auxiliary.scaler.mean": predictor.scaler.mean, "auxiliary.scaler.std": predictor.scaler.std}
    return out | _ensemble_arrays(predictor.folds, _fold_prefix)


def _auxiliary_from_arrays(tensors: Mapping[str, np.ndarray], tasks: Sequence[str], n_folds: int) -> AuxiliaryPredictor:
    folds = _ensemble_from_arrays(tensors, tasks, n_folds, _fold_prefix)
    scaler = FeatureScaler(tensors["auxiliary.scaler.mean"], tensors["auxiliary.scaler.std"])
    return AuxiliaryPredictor(list(tasks), scaler, folds)


def _stored_forest(tensors: Mapping[str, np.ndarray], heads: Mapping[str, EndpointHead]) -> ObliviousForest | None:
    """The forest saved with the model, if it has one and it still holds each .cbm file's number of trees;
    otherwise (models saved before forests were stored, .cbm files replaced) it is compiled on first use."""
    forest = ObliviousForest.from_arrays(tensors, list(heads))
    if forest is not None and forest.tree_counts().tolist() != [head.gbm.tree_count_ for head in heads.values()]:
        log.warning("the stored trees do not match gbm/*.cbm; compiling them again from the .cbm files")
        return None
    return forest


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in model.json")
