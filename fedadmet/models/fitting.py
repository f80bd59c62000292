"""Fitting an :class:`~fedadmet.models.admet_model.ADMETModel` from endpoint frames: its trainer.

Training data comes as one frame per endpoint with canonical ``smiles`` (the standardised parent: the
molecule's identity for aggregation, leakage control and the domain, and what is featurised), source-unit
``y`` and optionally a censoring ``relation`` and the input ``form``; the heads see one row per parent
(``per_molecule``), or per form for a form-dependent endpoint whose frame keeps forms.
Validation frames drive early stopping, the GBM/trunk blend weight, calibration and the domain thresholds.
Auxiliary endpoints only shape the trunk.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import FeatureSet, feature_set_named
from fedadmet.chem.graphs import MolGraph, graphs_from_smiles
from fedadmet.chem.parallel import ParallelOptions
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
from fedadmet.models.graph_weights import GraphMember
from fedadmet.models.labels import (
    by_featurised_molecule,
    exact,
    featurises_form,
    label_matrix,
    per_molecule,
    relation_matrix,
)
from fedadmet.models.metrics import default_metric, score
from fedadmet.models.preprocess import FeatureScaler
from fedadmet.models.targets import TargetScaling
from fedadmet.models.trunk_weights import NetworkEnsemble

if TYPE_CHECKING:  # PyTorch is imported on use (see fit_model)
    from fedadmet.models.trainer import TaskMatrix

EndpointFrames = Mapping[str, pd.DataFrame]


def fit_model(
    train: EndpointFrames,
    valid: EndpointFrames,
    auxiliary: EndpointFrames | None = None,
    config: ModelConfig | None = None,
    parallel: ParallelOptions | None = None,
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
    predictions to every head's features. ``parallel``: worker processes and threads, progress bars."""
    config = config or ModelConfig()
    parallel = parallel or ParallelOptions()
    auxiliary = auxiliary or {}
    started = time.time()
    missing_valid = sorted(set(train) - set(valid))
    if missing_valid:
        raise InputError("every trained endpoint needs validation rows", got=missing_valid)
    # PyTorch is imported on use, not at module level: prediction never needs it (see TrunkWeights).
    import torch

    torch.set_num_threads(parallel.n_jobs)
    tasks = list(train) + [name for name in auxiliary if name not in train]
    # Leakage rules compare parents; from then on a form-dependent endpoint's rows are its forms.
    valid_molecules = {s for f in valid.values() for s in f["smiles"]} if hold_out_validation else set()
    trunk_train = by_featurised_molecule(
        without_molecules(
            {**{k: v for k, v in auxiliary.items() if k not in train}, **train},
            {*exclude_from_trunk, *valid_molecules},
        )
    )
    trunk_valid = by_featurised_molecule(without_molecules(valid, exclude_from_trunk))
    form_heads = featurises_form(train)
    train, valid, auxiliary = map(by_featurised_molecule, (train, valid, auxiliary))
    every_frame = [f for frames in (train, valid, auxiliary) for f in frames.values()]
    feature_set = feature_set_named(config.feature_set)
    features = _Features.compute(every_frame, feature_set, cache_dir, parallel, graphs=config.graph_members > 0)
    networks = _network_data(tasks, features, trunk_train, trunk_valid)
    trunk = _fit_trunk(tasks, networks, features.matrix.shape[1], config, parallel.progress)
    graph = _fit_graph(tasks, networks, features, feature_set, config, parallel.progress)
    model = ADMETModel(
        config,
        feature_set,
        trunk.scaler,
        trunk.weights,
        trunk.targets,
        heads={},
        domain=ApplicabilityDomain(np.zeros((0, 0), np.uint8), 0),
        auxiliary=side_tasks.predictor if side_tasks is not None else None,
        graph=graph.member if graph is not None else None,
    )
    model.heads = _fit_heads(model, train, valid, features, side_tasks, parallel, cache_dir)
    for name in form_heads:
        model.heads[name].featurises_form = True
    model.domain = _fitted_domain(model, features, trunk.molecules, train, valid)
    model.metadata = {
        "trained_seconds": round(time.time() - started, 1),
        "trunk_seconds": round(trunk.seconds, 1),
        "trunk_valid_loss": trunk.curves,
        **({"graph_seconds": round(graph.seconds, 1), "graph_valid_loss": graph.curves} if graph else {}),
        "trunk_rows": {name: len(frame) for name, frame in trunk_train.items()},
        "head_rows": {name: len(frame) for name, frame in train.items()},
        "auxiliary_endpoints": [t for t in tasks if t not in train],
        "side_tasks": side_tasks.predictor.tasks if side_tasks is not None else [],
        "trunk_molecules": len(trunk.molecules),
        "trunk_molecules_sha256": molecule_set_hash(trunk.molecules),
    }
    return model


@dataclass
class _Features:
    """Every molecule's feature row, and its graph where a graph member is trained, computed once."""

    matrix: np.ndarray
    row: dict[str, int]
    graphs: list[MolGraph | None] | None = None

    @classmethod
    def compute(
        cls,
        frames: Sequence[pd.DataFrame],
        feature_set: FeatureSet,
        cache_dir: Path | None,
        parallel: ParallelOptions,
        graphs: bool = False,
    ) -> _Features:
        molecules = sorted({s for f in frames for s in f["smiles"]})
        matrix = compute_features(molecules, feature_set, parallel=parallel, cache_dir=cache_dir)
        return cls(matrix, {s: i for i, s in enumerate(molecules)}, graphs_from_smiles(molecules) if graphs else None)

    def of_molecules(self, identities: Sequence[str]) -> np.ndarray:
        return self.matrix[[self.row[s] for s in identities]]

    def graphs_of(self, identities: Sequence[str]) -> list[MolGraph | None] | None:
        return None if self.graphs is None else [self.graphs[self.row[s]] for s in identities]

    def graphs_of_rows(self, frame: pd.DataFrame) -> list[MolGraph | None] | None:
        return self.graphs_of(frame["smiles"].tolist())

    def of_rows(self, frame: pd.DataFrame) -> np.ndarray:
        return self.of_molecules(frame["smiles"].tolist())


def _fitted_domain(
    model: ADMETModel, features: _Features, trunk_molecules: Sequence[str], train: EndpointFrames, valid: EndpointFrames
) -> ApplicabilityDomain:
    """The domain of every training molecule (the trunk's and the heads'), each endpoint's of its own
    training rows; thresholds from the validation molecules (see :meth:`ApplicabilityDomain.fitted`)."""
    references = sorted(set(trunk_molecules).union(*(set(f["smiles"]) for f in train.values())))
    held_out = sorted(set().union(*(set(f["smiles"]) for f in valid.values())))
    morgan = model.feature_set.block("morgan")

    def membership(molecules: Sequence[str], frames: EndpointFrames) -> np.ndarray:
        sets = [set(frames[name]["smiles"]) for name in model.heads]
        return np.array([[s in members for members in sets] for s in molecules], dtype=bool).reshape(-1, len(sets))

    return ApplicabilityDomain.fitted(
        features.of_molecules(references)[:, morgan],
        membership(references, train),
        list(model.heads),
        features.of_molecules(held_out)[:, morgan],
        membership(held_out, valid),
        model.config.ad_quantile,
    )


@dataclass
class _NetworkData:
    """What the networks (trunk and graph member) learn from: the feature scaler and target scaling fitted on
    the training molecules, and the training and validation matrices with their molecules in row order."""

    scaler: FeatureScaler
    targets: TargetScaling
    train: TaskMatrix
    valid: TaskMatrix
    train_molecules: list[str]
    valid_molecules: list[str]


def _network_data(tasks: list[str], features: _Features, train: EndpointFrames, valid: EndpointFrames) -> _NetworkData:
    from fedadmet.models.trainer import TaskMatrix

    endpoints = [get_endpoint(name) for name in tasks]
    molecules = sorted({s for f in train.values() for s in f["smiles"]})
    scaler = FeatureScaler.fit(features.of_molecules(molecules))
    kinds = np.array([endpoint.is_classification for endpoint in endpoints])
    targets = TargetScaling.fit([e.to_model_scale(exact(train[e.name])["y"].to_numpy()) for e in endpoints], kinds)

    def scaled_labels(j: int, frame: pd.DataFrame) -> np.ndarray:
        return targets.scale(j, endpoints[j].to_model_scale(frame["y"].to_numpy()))

    def matrix(frames: EndpointFrames) -> tuple[TaskMatrix, list[str]]:
        smiles = sorted({s for f in frames.values() for s in f["smiles"]})
        labels = label_matrix(frames, tasks, smiles, scaled_labels)
        scaled = scaler.transform(features.of_molecules(smiles))
        return TaskMatrix(scaled, labels, kinds, relation_matrix(frames, tasks, smiles)), smiles

    (train_matrix, train_molecules), (valid_matrix, valid_molecules) = matrix(train), matrix(valid)
    return _NetworkData(scaler, targets, train_matrix, valid_matrix, train_molecules, valid_molecules)


@dataclass
class _FittedTrunk:
    scaler: FeatureScaler
    targets: TargetScaling
    weights: NetworkEnsemble
    curves: list[list[float]]  # validation loss per epoch, per member
    seconds: float
    molecules: list[str]  # the identities it trained on, sorted


def _fit_trunk(
    tasks: list[str], data: _NetworkData, n_features: int, config: ModelConfig, progress: bool
) -> _FittedTrunk:
    """The multitask trunks over every task (``config.trunk_members``, seeds ``config.seed`` on)."""
    from fedadmet.models.trainer import NetworkTrainer
    from fedadmet.models.trunk import MultitaskNet

    started = time.time()
    members, curves = [], []
    for seed in range(config.seed, config.seed + config.trunk_members):
        net = MultitaskNet.seeded(n_features, tasks, config.trunk, seed)
        curves.append(NetworkTrainer(config.trunk).fit(net, data.train, data.valid, seed, progress))
        members.append(net.weights())
    return _FittedTrunk(
        data.scaler, data.targets, NetworkEnsemble(members), curves, time.time() - started, data.train_molecules
    )


@dataclass
class _FittedGraph:
    member: GraphMember
    curves: list[list[float]]
    seconds: float


def _fit_graph(
    tasks: list[str],
    data: _NetworkData,
    features: _Features,
    feature_set: FeatureSet,
    config: ModelConfig,
    progress: bool,
) -> _FittedGraph | None:
    """The graph networks (``config.graph_members``, seeds ``config.seed`` on) over the trunk's tasks and labels
    (or its regression tasks, as ``config.graph.tasks`` says), on the molecules with a label of one of them, each
    reading the graph and the scaled 2D descriptors; None where the config wants none or no task is of the kind
    it learns."""
    if not config.graph_members:
        return None
    from fedadmet.models.graph import GraphTasks, fit_graph_net

    descriptors = feature_set.block("rdkit2d")
    kinds = data.train.is_classification
    learned = np.flatnonzero(~kinds if config.graph.tasks == "regression" else np.ones_like(kinds))
    if not len(learned):
        return None

    def tasks_of(matrix: TaskMatrix, molecules: list[str]) -> GraphTasks:
        graphs = features.graphs_of(molecules) or []
        relations = None if matrix.relations is None else matrix.relations[:, learned]
        extra = matrix.features[:, descriptors]
        every = GraphTasks.with_graphs(graphs, matrix.targets[:, learned], kinds[learned], extra, relations)
        return every.rows(np.flatnonzero(~np.isnan(every.targets).all(axis=1)))

    train, valid = tasks_of(data.train, data.train_molecules), tasks_of(data.valid, data.valid_molecules)
    started = time.time()
    networks, curves = [], []
    for seed in range(config.seed, config.seed + config.graph_members):
        net, curve = fit_graph_net([tasks[j] for j in learned], train, valid, config.graph, seed, progress)
        networks.append(net.weights())
        curves.append(curve)
    member = GraphMember(networks, (descriptors.start, descriptors.stop))
    return _FittedGraph(member, curves, time.time() - started)


def _fit_heads(
    model: ADMETModel,
    train: EndpointFrames,
    valid: EndpointFrames,
    features: _Features,
    side_tasks: FittedAuxiliary | None,
    parallel: ParallelOptions,
    cache_dir: Path | None,
) -> dict[str, EndpointHead]:
    """Each endpoint's trees on its exact training rows (kept in ``cache_dir``/trees, see
    :func:`~fedadmet.models.gbm.fit_gbm`), one blend weight for all, then calibration."""
    endpoints = {name: get_endpoint(name) for name in train}
    fitted = {
        name: _fit_gbm(
            model,
            endpoints[name],
            per_molecule(train[name], endpoints[name]),
            per_molecule(valid[name], endpoints[name]),
            features,
            side_tasks,
            parallel.n_jobs,
            cache_dir / "trees" if cache_dir is not None else None,
        )
        for name in tqdm(list(train), desc="endpoint heads", disable=not parallel.progress)
    }
    weight = choose_blend_weight([parts for _, parts in fitted.values()], model.config.blend_weights)
    coverage = model.config.conformal_coverage
    return {
        name: _calibrated_head(endpoints[name], gbm, weight, parts, coverage) for name, (gbm, parts) in fitted.items()
    }


def _fit_gbm(
    model: ADMETModel,
    endpoint: Endpoint,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    features: _Features,
    side_tasks: FittedAuxiliary | None,
    n_jobs: int,
    tree_cache: Path | None,
) -> tuple[GBMModel, ValidationParts]:
    """One endpoint's trees on its training rows, and its validation parts for the blend and calibration."""

    def gbm_input(frame: pd.DataFrame, x: np.ndarray) -> np.ndarray:
        side = side_tasks.features_for(list(frame["smiles"]), x) if side_tasks is not None else None
        return model.gbm_input(x, side)

    x_train, x_valid = features.of_rows(train), features.of_rows(valid)
    graph = None
    if model.graph is not None and endpoint.name in model.graph.tasks:
        graph = model.graph_predictions(x_valid, features.graphs_of_rows(valid))[endpoint.name]  # type: ignore[arg-type]
    gbm = fit_gbm(
        gbm_input(train, x_train),
        endpoint.to_model_scale(train["y"].to_numpy()),
        endpoint.is_classification,
        model.config.gbm,
        model.config.seed,
        n_jobs,
        tree_cache,
    )
    parts = ValidationParts(
        metric=endpoint.metric or default_metric(endpoint.is_classification),
        labels=endpoint.to_model_scale(valid["y"].to_numpy()),
        gbm=predict_gbm(gbm, gbm_input(valid, x_valid), n_jobs),
        trunk=model.trunk_predictions(x_valid)[endpoint.name],
        graph=graph,
        graph_weight=model.config.graph_weight,
    )
    return gbm, parts


def _calibrated_head(
    endpoint: Endpoint, gbm: GBMModel, gbm_weight: float, parts: ValidationParts, coverage: float
) -> EndpointHead:
    blended = parts.blend(gbm_weight)
    head = EndpointHead(endpoint, gbm, gbm_weight)
    head.platt, head.conformal = fit_calibration(
        endpoint.is_classification, parts.labels, blended, parts.components.disagreement, coverage
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
            **({"graph_only": valid_score(parts.graph)} if parts.graph is not None else {}),
            "n": len(parts.labels),
        }
    return head
