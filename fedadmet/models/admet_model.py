"""A trained ADMET/Tox model composed of named parts: featurizer, feature scaler, multitask trunk, target
scaling, per-endpoint heads (GBM + blend weight + calibration), applicability domain, an optional
side-task predictor whose outputs the heads also see, and an optional graph member (a D-MPNN reading the
molecular graph, :mod:`fedadmet.models.graph`).

The model only predicts: :func:`fedadmet.models.fitting.fit_model` trains one and
:mod:`fedadmet.models.artifacts` reads and writes it. Auxiliary endpoints only shaped the trunk
(representation learning); the model does not predict them.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import FeatureSet
from fedadmet.chem.graphs import MolGraph, graphs_from_smiles
from fedadmet.data.catalogue import Endpoint
from fedadmet.exceptions import InputError
from fedadmet.models.auxiliary import AuxiliaryPredictor
from fedadmet.models.blending import Components
from fedadmet.models.calibration import ConformalRegressor, PlattCalibrator, report
from fedadmet.models.config import ModelConfig
from fedadmet.models.domain import ApplicabilityDomain, DomainScores
from fedadmet.models.gbm import GBMModel
from fedadmet.models.graph_weights import GraphMember
from fedadmet.models.preprocess import FeatureScaler
from fedadmet.models.targets import TargetScaling
from fedadmet.models.trees import ObliviousForest
from fedadmet.models.trunk_weights import NetworkEnsemble


@dataclass
class EndpointHead:
    """Everything specific to one predicted endpoint."""

    endpoint: Endpoint
    gbm: GBMModel
    gbm_weight: float
    platt: PlattCalibrator | None = None
    conformal: ConformalRegressor | None = None
    validation: dict[str, float] = field(default_factory=dict)
    featurises_form: bool = False  # learned from input forms (a form-dependent endpoint), not parents


@dataclass
class RawPrediction:
    """Per-endpoint predictions for a batch of canonical SMILES, in source units, with the applicability
    domain overall (``domain_score``, ``in_domain``) and per endpoint."""

    values: dict[str, np.ndarray]
    uncertainty: dict[str, np.ndarray]
    domain_score: np.ndarray
    in_domain: np.ndarray
    endpoint_domain: dict[str, np.ndarray]
    endpoint_in_domain: dict[str, np.ndarray]

    @classmethod
    def from_parts(
        cls, values: dict[str, np.ndarray], uncertainty: dict[str, np.ndarray], domain: DomainScores
    ) -> RawPrediction:
        return cls(
            values, uncertainty, domain.overall, domain.in_domain, domain.by_endpoint, domain.in_domain_by_endpoint
        )

    def with_rows_from(self, rows: np.ndarray, other: RawPrediction, endpoints: Sequence[str]) -> RawPrediction:
        """This prediction with ``endpoints``' values, uncertainties and domain at ``rows`` taken from ``other``
        (one row per entry of ``rows``): the form-dependent endpoints predicted from the input forms."""
        merged = {}
        for part in ("values", "uncertainty", "endpoint_domain", "endpoint_in_domain"):
            columns = dict(getattr(self, part))
            for name in endpoints:
                columns[name] = columns[name].copy()
                columns[name][rows] = getattr(other, part)[name]
            merged[part] = columns
        return replace(self, **merged)

    @classmethod
    def concatenate(cls, parts: Sequence[RawPrediction]) -> RawPrediction:
        """Row blocks predicted separately (e.g. chunk by chunk), stacked in order; ``parts`` must not be empty."""

        def stacked(name: str) -> dict[str, np.ndarray]:
            first: dict[str, np.ndarray] = getattr(parts[0], name)
            return {key: np.concatenate([getattr(part, name)[key] for part in parts]) for key in first}

        return cls(
            stacked("values"),
            stacked("uncertainty"),
            np.concatenate([part.domain_score for part in parts]),
            np.concatenate([part.in_domain for part in parts]),
            stacked("endpoint_domain"),
            stacked("endpoint_in_domain"),
        )


@dataclass
class ADMETModel:
    """Named parts composed into one predictor (the shape of chemprop v2's ``MPNN``); fitted elsewhere."""

    config: ModelConfig
    feature_set: FeatureSet
    scaler: FeatureScaler
    trunk: NetworkEnsemble  # the averaged trunks
    targets: TargetScaling  # of the trunk's tasks
    heads: dict[str, EndpointHead]
    domain: ApplicabilityDomain
    metadata: dict[str, object] = field(default_factory=dict)
    auxiliary: AuxiliaryPredictor | None = None
    graph: GraphMember | None = None  # over the trunk's tasks, with its target scaling
    forest: ObliviousForest | None = field(default=None, repr=False)  # the heads' trees, for prediction
    _forest_of: tuple[GBMModel, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.forest is not None:  # a forest given with the heads (as load does) is theirs
            self._forest_of = self._head_models()

    @property
    def endpoints(self) -> list[str]:
        return list(self.heads)

    @property
    def form_endpoints(self) -> list[str]:
        """Endpoints predicted from the input form rather than the parent (``EndpointHead.featurises_form``)."""
        return [name for name, head in self.heads.items() if head.featurises_form]

    # ------------------------------------------------------------------ inference
    def gbm_input(self, features: np.ndarray, side_features: np.ndarray | None = None) -> np.ndarray:
        """The heads' features: the feature vector plus side-task predictions where the model has them
        (``side_features``: given while training, out-of-fold for the side data's own molecules)."""
        if self.auxiliary is None:
            return features
        extra = self.auxiliary(features) if side_features is None else side_features
        return np.hstack([features, extra]).astype(np.float32)

    def trunk_predictions(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Per trunk task, the trunk ensemble's probability or model-scale value."""
        return self._by_task(self.trunk(self.scaler.transform(features)), self.trunk.tasks)

    def _by_task(self, raw: np.ndarray, tasks: Sequence[str]) -> dict[str, np.ndarray]:
        """A network's raw outputs over ``tasks`` (the trunk's, or some of them) as each task's probability or
        model-scale value."""
        outputs = self.targets.columns([self.trunk.tasks.index(task) for task in tasks]).outputs(raw)
        return {task: outputs[:, j] for j, task in enumerate(tasks)}

    def graph_predictions(self, features: np.ndarray, graphs: Sequence[MolGraph | None]) -> dict[str, np.ndarray]:
        """Per task of the graph member (the model must have one), its probability or model-scale value."""
        assert self.graph is not None
        return self._by_task(self.graph(graphs, self.scaler.transform(features)), self.graph.tasks)

    @property
    def reads_graphs(self) -> bool:
        """Whether predictions need the molecules' graphs (:meth:`graphs_for`) beside their features."""
        return self.graph is not None

    def featurize(self, smiles: Sequence[str], cache_dir: Path | None = None) -> np.ndarray:
        return compute_features(list(smiles), self.feature_set, cache_dir=cache_dir)

    def graphs_for(self, smiles: Sequence[str]) -> list[MolGraph | None] | None:
        """The graphs :meth:`predict_features` needs for the rows of ``featurize(smiles)``; None for a model
        without a graph member."""
        return graphs_from_smiles(smiles) if self.reads_graphs else None

    def head_components(
        self, features: np.ndarray, graphs: Sequence[MolGraph | None] | None = None
    ) -> dict[str, Components]:
        """Per endpoint, each part's prediction on the model scale, before blending."""
        if self.reads_graphs and (graphs is None or len(graphs) != len(features)):
            raise InputError("this model reads molecular graphs: give one per feature row (ADMETModel.graphs_for)")
        scaled = self.scaler.transform(features)  # once for both networks: it is most of their cost on small batches
        trunk = self._by_task(self.trunk(scaled), self.trunk.tasks)
        graph = self._by_task(self.graph(graphs, scaled), self.graph.tasks) if self.graph is not None else None  # type: ignore[arg-type]
        classifiers = [head.endpoint.is_classification for head in self.heads.values()]
        gbm = self.head_forest().predict(self.gbm_input(features), classifiers)
        return {
            name: Components(gbm[:, j], trunk[name], None if graph is None else graph.get(name))
            for j, name in enumerate(self.heads)
        }

    def _head_models(self) -> tuple[GBMModel, ...]:
        return tuple(head.gbm for head in self.heads.values())

    def head_forest(self) -> ObliviousForest:
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

    def predict_features(self, features: np.ndarray, graphs: Sequence[MolGraph | None] | None = None) -> RawPrediction:
        """Predictions for precomputed features (rows from :meth:`featurize`) and, for a model with a graph
        member, the same molecules' graphs (:meth:`graphs_for`).

        NumPy's BLAS runs on one thread here: batches are small or predicted beside busy worker processes,
        where more threads only spin and, on two cores, doubled the CPU time of a ten-molecule batch."""
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self._predict_features(features, graphs)

    def _predict_features(self, features: np.ndarray, graphs: Sequence[MolGraph | None] | None) -> RawPrediction:
        values, uncertainty = {}, {}
        for name, parts in self.head_components(features, graphs).items():
            head = self.heads[name]
            blended = parts.blend(head.gbm_weight, self.config.graph_weight)
            values[name], uncertainty[name] = report(
                head.endpoint, blended, (head.platt, head.conformal), parts.disagreement
            )
        domain = self.domain.score(features[:, self.feature_set.block("morgan")])
        return RawPrediction.from_parts(values, uncertainty, self.domain.for_endpoints(domain, self.endpoints))

    def predict_smiles(self, smiles: Sequence[str]) -> RawPrediction:
        return self.predict_features(self.featurize(smiles), self.graphs_for(smiles))


@lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()  # inspecting the loaded libraries once, not on every call, costs ~0.3 ms
