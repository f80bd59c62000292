"""Fitting an :class:`~fedadmet.models.admet_model.ADMETModel` from endpoint frames: its trainer.

Training data comes as one frame per endpoint with canonical ``smiles`` (the standardised parent: the
molecule's identity for aggregation, leakage control and the domain), optionally ``form`` (the
canonical input form that is featurised; defaults to ``smiles``), source-unit ``y`` and optionally a
censoring ``relation``. Validation frames drive early stopping, the GBM/trunk blend weight,
calibration and the domain threshold. Auxiliary endpoints only shape the trunk.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import default_feature_set
from fedadmet.config import get_settings
from fedadmet.data.catalogue import Endpoint, get_endpoint
from fedadmet.data.splits import molecule_set_hash, without_molecules
from fedadmet.exceptions import InputError
from fedadmet.models.admet_model import ADMETModel, EndpointHead
from fedadmet.models.auxiliary import FittedAuxiliary
from fedadmet.models.blending import ValidationParts, choose_blend_weight
from fedadmet.models.calibration import fit_calibration
from fedadmet.models.config import ModelConfig
from fedadmet.models.domain import ApplicabilityDomain
from fedadmet.models.gbm import GBMModel, fit_gbm, predict_gbm
from fedadmet.models.labels import exact, forms, label_matrix, relation_matrix
from fedadmet.models.metrics import default_metric, score
from fedadmet.models.preprocess import FeatureScaler
from fedadmet.models.targets import TargetScaling

EndpointFrames = Mapping[str, pd.DataFrame]


def fit_model(
    train: EndpointFrames,
    valid: EndpointFrames,
    auxiliary: EndpointFrames | None = None,
    config: ModelConfig | None = None,
    progress: bool | None = None,
    cache_dir: Path | None = None,
    exclude_from_trunk: Collection[str] = (),
    side_tasks: FittedAuxiliary | None = None,
    hold_out_validation: bool = False,
) -> ADMETModel:
    """Train on ``train``; molecules in ``exclude_from_trunk`` never reach the trunk (leakage control),
    while the per-endpoint GBM heads still use all of their endpoint's training rows. With
    ``hold_out_validation`` no validation molecule trains the trunk either (through another endpoint's
    rows), so the calibration it drives is held out. ``side_tasks`` (from
    :func:`~fedadmet.models.auxiliary.fit_auxiliary`, trained without those molecules) adds its
    predictions to every head's features."""
    config = config or ModelConfig()
    settings = get_settings()
    progress = settings.progress if progress is None else progress
    auxiliary = auxiliary or {}
    started = time.time()
    missing_valid = sorted(set(train) - set(valid))
    if missing_valid:
        raise InputError("every trained endpoint needs validation rows", got=missing_valid)
    # PyTorch is imported here, not at module level: prediction never needs it (see TrunkWeights).
    import torch

    from fedadmet.models.trainer import NetworkTrainer, TaskMatrix
    from fedadmet.models.trunk import MultitaskNet

    torch.set_num_threads(settings.n_jobs)
    tasks = list(train) + [name for name in auxiliary if name not in train]
    endpoints = {name: get_endpoint(name) for name in tasks}
    feature_set = default_feature_set()
    every_frame = [f for frames in (train, valid, auxiliary) for f in frames.values()]
    features, form_row, row_of = _features(every_frame, cache_dir, progress)

    valid_molecules = {s for f in valid.values() for s in f["smiles"]} if hold_out_validation else set()
    train_frames = without_molecules(
        {**{k: v for k, v in auxiliary.items() if k not in train}, **train}, {*exclude_from_trunk, *valid_molecules}
    )
    trunk_valid = without_molecules(valid, exclude_from_trunk)
    train_smiles = sorted({s for f in train_frames.values() for s in f["smiles"]})
    scaler = FeatureScaler.fit(features[[row_of[s] for s in train_smiles]])
    kinds = np.array([endpoints[t].is_classification for t in tasks])
    targets = TargetScaling.fit(
        [endpoints[t].to_model_scale(exact(train_frames[t])["y"].to_numpy()) for t in tasks], kinds
    )

    def scaled_labels(j: int, frame: pd.DataFrame) -> np.ndarray:
        return targets.scale(j, endpoints[tasks[j]].to_model_scale(frame["y"].to_numpy()))

    def matrix(frames: EndpointFrames) -> TaskMatrix:
        smiles = sorted({s for f in frames.values() for s in f["smiles"]})
        labels = label_matrix(frames, tasks, smiles, scaled_labels)
        scaled = scaler.transform(features[[row_of[s] for s in smiles]])
        return TaskMatrix(scaled, labels, kinds, relation_matrix(frames, tasks, smiles))

    net = MultitaskNet.seeded(len(feature_set), tasks, config.trunk, config.seed)
    trunk_started = time.time()
    curve = NetworkTrainer(config.trunk).fit(net, matrix(train_frames), matrix(trunk_valid), config.seed, progress)
    trunk_seconds = time.time() - trunk_started

    model = ADMETModel(
        config,
        feature_set,
        scaler,
        net.weights(),
        targets,
        heads={},
        domain=ApplicabilityDomain(np.zeros((0, 0), np.uint8), 0),
        auxiliary=side_tasks.predictor if side_tasks is not None else None,
    )
    fitted = {
        name: _fit_gbm(model, endpoints[name], exact(train[name]), exact(valid[name]), features, form_row, side_tasks)
        for name in tqdm(list(train), desc="endpoint heads", disable=not progress)
    }
    weight = choose_blend_weight([parts for _, parts in fitted.values()], config.blend_weights)
    for name, (gbm, parts) in fitted.items():
        model.heads[name] = _calibrated_head(endpoints[name], gbm, weight, parts, config.conformal_coverage)

    morgan = feature_set.block("morgan")
    valid_smiles = sorted({s for f in valid.values() for s in f["smiles"]} - set(train_smiles))
    model.domain = ApplicabilityDomain.fitted(
        features[[row_of[s] for s in train_smiles], morgan], features[[row_of[s] for s in valid_smiles], morgan], config
    )
    model.metadata = {
        "trained_seconds": round(time.time() - started, 1),
        "trunk_seconds": round(trunk_seconds, 1),
        "trunk_valid_loss": curve,
        "trunk_rows": {name: len(frame) for name, frame in train_frames.items()},
        "head_rows": {name: len(frame) for name, frame in train.items()},
        "auxiliary_endpoints": [t for t in tasks if t not in train],
        "side_tasks": side_tasks.predictor.tasks if side_tasks is not None else [],
        "trunk_molecules": len(train_smiles),
        "trunk_molecules_sha256": molecule_set_hash(train_smiles),
    }
    return model


def _features(
    frames: Sequence[pd.DataFrame], cache_dir: Path | None, progress: bool
) -> tuple[np.ndarray, dict[str, int], dict[str, int]]:
    """Features of every form met, each form's row, and each molecule identity's row (its first form met:
    the trunk sees one feature row per molecule)."""
    all_forms = sorted({form for f in frames for form in forms(f)})
    features = compute_features(all_forms, default_feature_set(), progress=progress, cache_dir=cache_dir)
    form_row = {form: i for i, form in enumerate(all_forms)}
    row_of = dict(form_row)
    for f in frames:
        for identity, form in zip(f["smiles"], forms(f), strict=True):
            row_of.setdefault(identity, form_row[form])
    return features, form_row, row_of


def _fit_gbm(
    model: ADMETModel,
    endpoint: Endpoint,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: np.ndarray,
    form_row: dict[str, int],
    side_tasks: FittedAuxiliary | None,
) -> tuple[GBMModel, ValidationParts]:
    """One endpoint's trees on its training rows, and its validation parts for the blend and calibration."""

    def gbm_input(frame: pd.DataFrame, x: np.ndarray) -> np.ndarray:
        side = side_tasks.features_for(list(frame["smiles"]), x) if side_tasks is not None else None
        return model.gbm_input(x, side)

    x_train = features[[form_row[f] for f in forms(train)]]
    x_valid = features[[form_row[f] for f in forms(valid)]]
    n_jobs = get_settings().n_jobs
    gbm = fit_gbm(
        gbm_input(train, x_train),
        endpoint.to_model_scale(train["y"].to_numpy()),
        endpoint.is_classification,
        model.config.gbm,
        model.config.seed,
        n_jobs,
    )
    parts = ValidationParts(
        metric=endpoint.metric or default_metric(endpoint.is_classification),
        labels=endpoint.to_model_scale(valid["y"].to_numpy()),
        gbm=predict_gbm(gbm, gbm_input(valid, x_valid), n_jobs),
        trunk=model.trunk_predictions(x_valid)[endpoint.name],
    )
    return gbm, parts


def _calibrated_head(
    endpoint: Endpoint, gbm: GBMModel, gbm_weight: float, parts: ValidationParts, coverage: float
) -> EndpointHead:
    blended = parts.blend(gbm_weight)
    head = EndpointHead(endpoint, gbm, gbm_weight)
    head.platt, head.conformal = fit_calibration(
        endpoint.is_classification, parts.labels, blended, np.abs(parts.gbm - parts.trunk), coverage
    )
    if parts.usable:

        def valid_score(prediction: np.ndarray) -> float:
            # MAE is reported in source units; rank and probability metrics do not depend on the scale.
            return score(parts.metric, endpoint.from_model_scale(parts.labels), endpoint.from_model_scale(prediction))

        head.validation = {
            "metric": parts.metric,
            "blend": valid_score(blended),
            "gbm_only": valid_score(parts.gbm),
            "trunk_only": valid_score(parts.trunk),
            "n": len(parts.labels),
        }
    return head
