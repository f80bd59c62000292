"""A trained ADMET/Tox model: shared multitask trunk + per-endpoint GBM heads, blended and calibrated.

Training data comes as one frame per endpoint with canonical ``smiles`` (the standardised parent: the
molecule's identity for aggregation, leakage control and the domain), optionally ``form`` (the
canonical input form that is featurised; defaults to ``smiles``), and source-unit ``y``.
Validation frames drive early stopping, the GBM/trunk blend weight, calibration and the domain
threshold. Auxiliary endpoints only shape the trunk (representation learning); the model does not
predict them.
"""

from __future__ import annotations

import json
import logging
import operator
import shutil
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from catboost import CatBoostError
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from threadpoolctl import ThreadpoolController
from tqdm.auto import tqdm

import fedadmet
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import FeatureSet, default_feature_set
from fedadmet.config import get_settings
from fedadmet.data.catalogue import Endpoint, get_endpoint
from fedadmet.data.splits import molecule_set_hash, without_molecules
from fedadmet.exceptions import ArtifactError, InputError
from fedadmet.models.auxiliary import AuxiliaryPredictor, FittedAuxiliary
from fedadmet.models.blending import ValidationParts, choose_blend_weight
from fedadmet.models.calibration import ConformalRegressor, PlattCalibrator, fit_calibration, report
from fedadmet.models.config import ModelConfig
from fedadmet.models.domain import ApplicabilityDomain
from fedadmet.models.gbm import GBMModel, fit_gbm, load_gbm, predict_gbm
from fedadmet.models.labels import forms, label_matrix
from fedadmet.models.metrics import default_metric, score
from fedadmet.models.preprocess import FeatureScaler
from fedadmet.models.trees import ObliviousForest
from fedadmet.models.trunk_weights import TrunkWeights

if TYPE_CHECKING:
    from fedadmet.models.training import TaskMatrix

ARTIFACT_FORMAT = 1
log = logging.getLogger(__name__)
EndpointFrames = Mapping[str, pd.DataFrame]


@dataclass
class EndpointHead:
    """Everything specific to one predicted endpoint."""

    endpoint: Endpoint
    gbm: GBMModel
    gbm_weight: float
    platt: PlattCalibrator | None = None
    conformal: ConformalRegressor | None = None
    validation: dict[str, float] = field(default_factory=dict)


@dataclass
class RawPrediction:
    """Per-endpoint predictions for a batch of canonical SMILES, in source units."""

    values: dict[str, np.ndarray]
    uncertainty: dict[str, np.ndarray]
    domain_score: np.ndarray
    in_domain: np.ndarray

    @classmethod
    def concatenate(cls, parts: Sequence[RawPrediction]) -> RawPrediction:
        """Row blocks predicted separately (e.g. chunk by chunk), stacked in order; ``parts`` must not be empty."""
        return cls(
            {name: np.concatenate([part.values[name] for part in parts]) for name in parts[0].values},
            {name: np.concatenate([part.uncertainty[name] for part in parts]) for name in parts[0].uncertainty},
            np.concatenate([part.domain_score for part in parts]),
            np.concatenate([part.in_domain for part in parts]),
        )


@dataclass
class ADMETModel:
    config: ModelConfig
    feature_set: FeatureSet
    scaler: FeatureScaler
    trunk: TrunkWeights
    target_mean: np.ndarray
    target_std: np.ndarray
    heads: dict[str, EndpointHead]
    domain: ApplicabilityDomain
    metadata: dict[str, object] = field(default_factory=dict)
    auxiliary: AuxiliaryPredictor | None = None
    forest: ObliviousForest | None = field(default=None, repr=False)  # the heads' trees, for prediction
    _forest_of: tuple[GBMModel, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.forest is not None:  # a forest given with the heads (as load does) is theirs
            self._forest_of = self._head_models()

    @property
    def endpoints(self) -> list[str]:
        return list(self.heads)

    # ------------------------------------------------------------------ training
    @classmethod
    def fit(
        cls,
        train: EndpointFrames,
        valid: EndpointFrames,
        auxiliary: EndpointFrames | None = None,
        config: ModelConfig | None = None,
        progress: bool | None = None,
        cache_dir: Path | None = None,
        exclude_from_trunk: Collection[str] = (),
        side_tasks: FittedAuxiliary | None = None,
    ) -> ADMETModel:
        """Train on ``train``; molecules in ``exclude_from_trunk`` never reach the trunk (leakage control),
        while the per-endpoint GBM heads still use all of their endpoint's training rows. ``side_tasks``
        (from :func:`~fedadmet.models.auxiliary.fit_auxiliary`, trained without those molecules) adds
        its predictions to every head's features."""
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

        from fedadmet.models.training import TaskMatrix, train_trunk
        from fedadmet.models.trunk import MultitaskNet

        torch.set_num_threads(settings.n_jobs)
        tasks = list(train) + [name for name in auxiliary if name not in train]
        endpoints = {name: get_endpoint(name) for name in tasks}
        feature_set = default_feature_set()
        every_frame = [f for frames in (train, valid, auxiliary) for f in frames.values()]
        all_forms = sorted({form for f in every_frame for form in forms(f)})
        features = compute_features(all_forms, feature_set, progress=progress, cache_dir=cache_dir)
        form_row = {form: i for i, form in enumerate(all_forms)}
        # The trunk sees one feature row per molecule identity: that of the first form met.
        row_of = dict(form_row)
        for f in every_frame:
            for identity, form in zip(f["smiles"], forms(f), strict=True):
                row_of.setdefault(identity, form_row[form])

        train_frames = without_molecules(
            {**{k: v for k, v in auxiliary.items() if k not in train}, **train}, exclude_from_trunk
        )
        trunk_valid = without_molecules(valid, exclude_from_trunk)
        train_smiles = sorted({s for f in train_frames.values() for s in f["smiles"]})
        scaler = FeatureScaler.fit(features[[row_of[s] for s in train_smiles]])
        target_mean, target_std = _regression_scaling(tasks, endpoints, train_frames)

        def scaled_labels(j: int, frame: pd.DataFrame) -> np.ndarray:
            return (endpoints[tasks[j]].to_model_scale(frame["y"].to_numpy()) - target_mean[j]) / target_std[j]

        def matrix(frames: EndpointFrames) -> TaskMatrix:
            smiles = sorted({s for f in frames.values() for s in f["smiles"]})
            targets = label_matrix(frames, tasks, smiles, scaled_labels)
            return TaskMatrix(scaler.transform(features[[row_of[s] for s in smiles]]), targets)

        is_classification = np.array([endpoints[t].is_classification for t in tasks])
        net = MultitaskNet.seeded(len(feature_set), tasks, config.trunk, config.seed)
        trunk_started = time.time()
        curve = train_trunk(
            net,
            matrix(train_frames),
            matrix(trunk_valid),
            is_classification,
            config.trunk,
            seed=config.seed,
            progress=progress,
        )

        model = cls(
            config,
            feature_set,
            scaler,
            net.weights(),
            target_mean,
            target_std,
            heads={},
            domain=ApplicabilityDomain(np.zeros((0, 0), np.uint8), 0),
            auxiliary=side_tasks.predictor if side_tasks is not None else None,
        )
        trunk_seconds = time.time() - trunk_started
        fitted = {
            name: model._fit_gbm(endpoints[name], train[name], valid[name], features, form_row, side_tasks)
            for name in tqdm(list(train), desc="endpoint heads", disable=not progress)
        }
        weight = choose_blend_weight([parts for _, parts in fitted.values()], config.blend_weights)
        for name, (gbm, parts) in fitted.items():
            model.heads[name] = _calibrated_head(endpoints[name], gbm, weight, parts, config.conformal_coverage)

        morgan = feature_set.block("morgan")
        model.domain = ApplicabilityDomain.from_counts(
            features[[row_of[s] for s in train_smiles], morgan], config.ad_reference_size, config.seed
        )
        valid_smiles = sorted({s for f in valid.values() for s in f["smiles"]} - set(train_smiles))
        model.domain.calibrate(features[[row_of[s] for s in valid_smiles], morgan], config.ad_quantile)
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

    def _fit_gbm(
        self,
        endpoint: Endpoint,
        train: pd.DataFrame,
        valid: pd.DataFrame,
        features: np.ndarray,
        form_row: dict[str, int],
        side_tasks: FittedAuxiliary | None,
    ) -> tuple[GBMModel, ValidationParts]:
        x_train = features[[form_row[f] for f in forms(train)]]
        x_valid = features[[form_row[f] for f in forms(valid)]]
        y_train = endpoint.to_model_scale(train["y"].to_numpy())
        n_jobs = get_settings().n_jobs
        gbm = fit_gbm(
            self._gbm_input(x_train, side_tasks, train["smiles"]),
            y_train,
            endpoint.is_classification,
            self.config.gbm,
            self.config.seed,
            n_jobs,
        )
        parts = ValidationParts(
            metric=endpoint.metric or default_metric(endpoint.is_classification),
            labels=endpoint.to_model_scale(valid["y"].to_numpy()),
            gbm=predict_gbm(gbm, self._gbm_input(x_valid, side_tasks, valid["smiles"]), n_jobs),
            trunk=self._trunk_predictions(x_valid)[endpoint.name],
        )
        return gbm, parts

    # ------------------------------------------------------------------ inference
    def _gbm_input(
        self, features: np.ndarray, side_tasks: FittedAuxiliary | None = None, identities: Sequence[str] = ()
    ) -> np.ndarray:
        """The heads' features: the feature vector plus side-task predictions where the model has them
        (out-of-fold for the side data's own molecules while training)."""
        if self.auxiliary is None:
            return features
        if side_tasks is not None:
            extra = side_tasks.features_for(list(identities), features)
        else:
            extra = self.auxiliary(features)
        return np.hstack([features, extra]).astype(np.float32)

    def _trunk_predictions(self, features: np.ndarray) -> dict[str, np.ndarray]:
        raw = self.trunk(self.scaler.transform(features))
        out = {}
        for j, task in enumerate(self.trunk.tasks):
            endpoint = get_endpoint(task)
            column = raw[:, j].astype(np.float64)
            if endpoint.is_classification:
                out[task] = 1.0 / (1.0 + np.exp(-column))
            else:
                out[task] = column * self.target_std[j] + self.target_mean[j]
        return out

    def featurize(self, smiles: Sequence[str], cache_dir: Path | None = None) -> np.ndarray:
        return compute_features(list(smiles), self.feature_set, cache_dir=cache_dir)

    def head_components(self, features: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per endpoint, the GBM and the trunk prediction on the model scale, before blending."""
        trunk = self._trunk_predictions(features)
        classifiers = [head.endpoint.is_classification for head in self.heads.values()]
        gbm = self._head_forest().predict(self._gbm_input(features), classifiers)
        return {name: (gbm[:, j], trunk[name]) for j, name in enumerate(self.heads)}

    def _head_models(self) -> tuple[GBMModel, ...]:
        return tuple(head.gbm for head in self.heads.values())

    def _head_forest(self) -> ObliviousForest:
        """The heads' trees as one forest, compiled from CatBoost once (or loaded with the model), and again
        whenever a head or its CatBoost model has been replaced since."""
        models = self._head_models()
        # Same names, and the very same CatBoost objects (so also as many): CatBoost's == compares contents.
        current = (
            self.forest is not None
            and self.forest.heads == tuple(self.heads)
            and all(map(operator.is_, models, self._forest_of))
        )
        if not current:
            self.forest = ObliviousForest.from_catboost({name: head.gbm for name, head in self.heads.items()})
            self._forest_of = models
        assert self.forest is not None
        return self.forest

    def predict_features(self, features: np.ndarray) -> RawPrediction:
        """Predictions for precomputed features (rows from :meth:`featurize`).

        NumPy's BLAS runs on one thread here: batches are small or predicted beside busy worker processes,
        where more threads only spin and, on two cores, doubled the CPU time of a ten-molecule batch."""
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self._predict_features(features)

    def _predict_features(self, features: np.ndarray) -> RawPrediction:
        values, uncertainty = {}, {}
        for name, (gbm_pred, trunk_pred) in self.head_components(features).items():
            head = self.heads[name]
            blended = head.gbm_weight * gbm_pred + (1 - head.gbm_weight) * trunk_pred
            values[name], uncertainty[name] = report(
                head.endpoint, blended, (head.platt, head.conformal), np.abs(gbm_pred - trunk_pred)
            )
        domain_score = self.domain.score(features[:, self.feature_set.block("morgan")])
        return RawPrediction(values, uncertainty, domain_score, domain_score >= self.domain.threshold)

    def predict_smiles(self, smiles: Sequence[str]) -> RawPrediction:
        return self.predict_features(self.featurize(smiles))

    # ------------------------------------------------------------------ artifacts
    def save(self, folder: Path) -> Path:
        """Write weights (safetensors, CatBoost .cbm) and JSON metadata; nothing is pickled.

        The model is written beside ``folder`` and then put in its place, so a model already there is
        replaced whole, and an interrupted save leaves it untouched rather than half old, half new."""
        folder = Path(folder).resolve()  # "." has no name to put a sibling beside
        check_model_destination(folder)
        partial, replaced = folder.with_name(f".{folder.name}.partial"), folder.with_name(f".{folder.name}.replaced")
        for leftover in (partial, replaced):
            shutil.rmtree(leftover, ignore_errors=True)
        self._write(partial)
        if folder.exists():
            folder.rename(replaced)
        partial.rename(folder)
        shutil.rmtree(replaced, ignore_errors=True)
        return folder

    def _write(self, folder: Path) -> None:
        (folder / "gbm").mkdir(parents=True)
        tensors = {f"net.{k}": v for k, v in self.trunk.state.items()}
        tensors |= {
            "scaler.mean": self.scaler.mean,
            "scaler.std": self.scaler.std,
            "target.mean": self.target_mean.astype(np.float64),
            "target.std": self.target_std.astype(np.float64),
            "domain.reference_bits": self.domain.reference_bits,
        }
        if self.auxiliary is not None:
            tensors |= self.auxiliary.arrays()
        tensors |= self._head_forest().arrays()
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, folder / "weights.safetensors")
        heads = {}
        for name, head in self.heads.items():
            file_name = f"{_safe_file_name(name)}.cbm"
            head.gbm.save_model(str(folder / "gbm" / file_name), format="cbm")
            heads[name] = {
                "gbm_file": file_name,
                "gbm_weight": head.gbm_weight,
                "platt": vars(head.platt) if head.platt else None,
                "conformal": vars(head.conformal) if head.conformal else None,
                "validation": head.validation,
            }
        card = {
            "format": ARTIFACT_FORMAT,
            "fedadmet_version": fedadmet.__version__,
            "config": self.config.model_dump(mode="json"),
            "feature_signature": self.feature_set.signature,
            "tasks": self.trunk.tasks,
            "heads": heads,
            "domain": {"n_bits": self.domain.n_bits, "threshold": self.domain.threshold},
            "auxiliary": (
                {"tasks": self.auxiliary.tasks, "folds": len(self.auxiliary.folds)} if self.auxiliary else None
            ),
            "metadata": self.metadata,
        }
        (folder / "model.json").write_text(json.dumps(card, indent=2, default=_json_default))
        shutil.copymode(folder / "model.json", folder / "weights.safetensors")  # safetensors writes it 0600

    @classmethod
    def load(cls, folder: Path) -> ADMETModel:
        folder = Path(folder)
        card_path = folder / "model.json"
        if not card_path.is_file():
            raise ArtifactError(f"no model at {folder}: model.json is missing (train one with `fedadmet train`)")
        try:
            return cls._read(folder, json.loads(card_path.read_text()))
        except (OSError, ValueError, KeyError, TypeError, CatBoostError, SafetensorError) as exc:
            raise ArtifactError(
                f"the model at {folder} is damaged or incomplete ({type(exc).__name__}: {exc}); "
                "train it again or restore the folder as `fedadmet train` wrote it"
            ) from None

    @classmethod
    def _read(cls, folder: Path, card: dict[str, Any]) -> ADMETModel:
        if card.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(
                f"model format {card.get('format')!r} at {folder}; this fedadmet reads {ARTIFACT_FORMAT}"
            )
        config = ModelConfig.model_validate(card["config"])
        feature_set = default_feature_set()
        if feature_set.signature != card["feature_signature"]:
            raise ArtifactError(
                f"model was trained with features {card['feature_signature']}; this fedadmet computes "
                f"{feature_set.signature}"
            )
        tensors = load_file(folder / "weights.safetensors")
        trunk = TrunkWeights.from_arrays({k[4:]: v for k, v in tensors.items() if k.startswith("net.")}, card["tasks"])
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
            )
        domain = ApplicabilityDomain(
            tensors["domain.reference_bits"], card["domain"]["n_bits"], card["domain"]["threshold"]
        )
        return cls(
            config,
            feature_set,
            FeatureScaler(tensors["scaler.mean"], tensors["scaler.std"]),
            trunk,
            tensors["target.mean"],
            tensors["target.std"],
            heads,
            domain,
            card["metadata"],
            auxiliary=(
                AuxiliaryPredictor.from_arrays(tensors, card["auxiliary"]["tasks"], card["auxiliary"]["folds"])
                if card.get("auxiliary")
                else None
            ),
            forest=_stored_forest(tensors, heads),
        )


def check_model_destination(folder: Path) -> None:
    """A model folder replaces ``folder`` whole, so it may only be new, empty or a model folder: checked
    before training too, so that a wrong ``-o`` does not cost a whole run."""
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "model.json").is_file():
        raise ArtifactError(f"{folder} holds files but no model; write the model to a new or empty folder")
    if folder.exists() and not folder.is_dir():
        raise ArtifactError(f"{folder} is a file; write the model to a new or empty folder")


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


def _stored_forest(tensors: Mapping[str, np.ndarray], heads: Mapping[str, EndpointHead]) -> ObliviousForest | None:
    """The forest saved with the model, if it has one and it still holds each .cbm file's number of trees;
    otherwise (models saved before forests were stored, .cbm files replaced) it is compiled on first use."""
    forest = ObliviousForest.from_arrays(tensors, list(heads))
    if forest is not None and forest.tree_counts().tolist() != [head.gbm.tree_count_ for head in heads.values()]:
        log.warning("the stored trees do not match gbm/*.cbm; compiling them again from the .cbm files")
        return None
    return forest


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()  # inspecting the loaded libraries once, not on every call, costs ~0.3 ms


def _regression_scaling(
    tasks: list[str], endpoints: dict[str, Endpoint], frames: EndpointFrames
) -> tuple[np.ndarray, np.ndarray]:
    mean, std = np.zeros(len(tasks)), np.ones(len(tasks))
    for j, task in enumerate(tasks):
        if not endpoints[task].is_classification:
            values = endpoints[task].to_model_scale(frames[task]["y"].to_numpy())
            mean[j], std[j] = float(np.mean(values)), float(np.std(values)) or 1.0
    return mean, std


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in model.json")
