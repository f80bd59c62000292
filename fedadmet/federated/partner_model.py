"""The model a partner kept from a federated run, as a predictor for its own molecules.

The ClientApp keeps each run's best network (shared trunk + the partner's private heads) with the run's
settings in ``<prepared folder>/federated_model/<run>/run-<id>/``. The network reads keyed features
(scaled on the public reference set, columns permuted by the consortium key), so predicting needs the
key the folder was prepared with; the folder's reference-set hash proves it is that key and pipeline.
Everything a profile needs besides the network is fitted here, at the partner, from its own data:
Platt scaling and split-conformal intervals on its validation fold, and the applicability domain
(nearest-neighbour similarity to its training compounds). Nothing leaves the partner.

The kept model is the federated network with the partner's heads refitted on the trunk (when it was kept),
trained on at the partner and blended, as the core model blends its trunk, with CatBoost over the
partner's features (:mod:`fedadmet.models.gbm`, :mod:`fedadmet.models.blending`) for each endpoint where
the blend scores better on the partner's validation fold; all of it is fitted here on first use and kept
in the partner's folder. Once ``federate gain`` has trained the partner's best local model, the predictor
averages that in (:mod:`fedadmet.federated.local_model`): the model a partner uses after joining.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from fedadmet.atomic import written_atomically
from fedadmet.chem.compute import compute_features
from fedadmet.chem.featurizers import FeatureSet, MorganCountFeaturizer, default_feature_set
from fedadmet.chem.graphs import MolGraph
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.data.catalogue import get_endpoint
from fedadmet.exceptions import ArtifactError, InputError
from fedadmet.federated.config import ConsortiumConfig, FederationConfig
from fedadmet.federated.keys import key_id
from fedadmet.federated.local_model import (
    after_joining,
    averaging_scale,
    choose_local_share,
    load_local_model,
    local_outputs,
)
from fedadmet.federated.prepare import consortium_transform, recorded_manifest
from fedadmet.federated.task import (
    VALID_FOLD,
    PartnerData,
    build_net,
    predict_scaled,
    refit_heads,
    score_tasks,
    scored_rows,
)
from fedadmet.federated.tasks.molecular import (
    FEDERATION_FILE,
    MODEL_ROOT,
    PROVENANCE_FILE,
    RECORD_DP_FILE,
    WEIGHTS_FILE,
    partner_model_folder,
)
from fedadmet.models.admet_model import ADMETModel, RawPrediction
from fedadmet.models.blending import ValidationParts, choose_blend_weight
from fedadmet.models.calibration import Calibration, conformal_minimum, fit_calibration, logit, report
from fedadmet.models.config import ModelConfig
from fedadmet.models.domain import ApplicabilityDomain
from fedadmet.models.gbm import fit_gbm
from fedadmet.models.metrics import score
from fedadmet.models.targets import TargetScaling
from fedadmet.models.trees import ObliviousForest
from fedadmet.models.trunk import MultitaskNet

_RUN_FOLDER = re.compile(r"run-(\d+)")
TUNED_WEIGHTS_FILE, TUNED_RECORD_FILE = "tuned.safetensors", "tuned.json"
TREES_FOLDER = "partner_trees"  # in the prepared folder: the trees every kept model of it blends with
KEPT_RECIPE = 2  # the partner's own training of a kept network: a new recipe trains its copy again


@dataclass(frozen=True)
class SavedModel:
    """A partner's best model of one run, as the ClientApp kept it in the partner's folder."""

    data_dir: Path  # the prepared folder it was kept in
    run_name: str
    run_id: int

    @property
    def folder(self) -> Path:
        return partner_model_folder(self.data_dir, self.run_name, self.run_id)

    @property
    def provenance(self) -> dict[str, Any]:
        """When it was kept and from which prepared labels; empty for models kept before this was recorded."""
        try:
            return dict(json.loads((self.folder / PROVENANCE_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return {}

    @property
    def never_aggregated(self) -> bool:
        """Kept while the shared trunk was still the initial one: the run aggregated no round before it."""
        return self.provenance.get("trunk_round") == 0

    @property
    def caveat(self) -> str | None:
        """What a user of this model must know before trusting it as a federated model, if anything."""
        if not self.never_aggregated:
            return None
        return (
            f"run {self.run_id} ({self.run_name}) aggregated no round before this model was kept (did it fail?): "
            "its shared trunk is the untrained initial one, so the federation has not trained it"
        )

    @property
    def valid_score(self) -> float:
        """Its score on the partner's validation fold when it was kept (-inf where not recorded)."""
        try:
            score = float(json.loads((self.folder / "scores.json").read_text())["valid_score"])
        except (OSError, ValueError, TypeError, KeyError):
            return -np.inf
        return score if np.isfinite(score) else -np.inf

    @property
    def under_dp(self) -> bool:
        """Trained under partner-level DP: noise sized to hide a whole partner leaves such a model far below
        one trained without (a reference, not the model to predict with unless chosen)."""
        try:
            settings = json.loads((self.folder / FEDERATION_FILE).read_text())
        except (OSError, ValueError):
            return False
        return bool(settings.get("privacy", {}).get("enabled", False))

    @property
    def record_dp(self) -> dict[str, Any] | None:
        """The ε this partner spent in the run under record-level DP, with δ and rounds (none: off)."""
        try:
            return dict(json.loads((self.folder / RECORD_DP_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    @property
    def saved(self) -> float:
        """When the model was kept (the file time where that was not recorded: copies may change it)."""
        return float(self.provenance.get("saved") or (self.folder / WEIGHTS_FILE).stat().st_mtime)


def saved_models(data_dir: Path) -> list[SavedModel]:
    """Every run this partner kept a model of, the most recently kept last (run ids count per registry,
    so a partner of several consortia may hold the same id twice)."""
    found = []
    for weights in Path(data_dir).glob(f"{MODEL_ROOT}/*/run-*/{WEIGHTS_FILE}"):
        match = _RUN_FOLDER.fullmatch(weights.parent.name)
        if match:
            found.append(SavedModel(Path(data_dir), weights.parent.parent.name, int(match.group(1))))
    return sorted(found, key=lambda model: model.saved)


def find_saved_model(data_dir: Path, run: int | str | None = None) -> SavedModel:
    """The model of ``run`` (its id, or "<run name>/<id>" where two consortia's ids collide), or when none
    is named, the best one (validation score; the latest of equals) of the runs whose trunk the federation
    aggregated (a failed run can leave a model with the initial trunk) without DP; refused with the reason
    when there is none such. Errors list what exists."""
    if not Path(data_dir).is_dir():
        raise InputError(f"no folder {data_dir}", expected="this partner's prepared folder")
    models = saved_models(data_dir)
    if not models:
        raise InputError(
            f"{data_dir} holds no federated model: a partner keeps one in {MODEL_ROOT}/ once it has taken part "
            "in a run (`fedadmet federate simulate`, or a deployed run)"
        )
    if run is None:
        return _best_default(data_dir, models)
    name, run_id = _run_choice(run)
    chosen = [model for model in models if model.run_id == run_id and name in (None, model.run_name)]
    if not chosen:
        kept = ", ".join(f"{m.run_name}/{m.run_id}" for m in models)
        raise InputError(f"{data_dir} holds no model of run {run}", expected=f"one of {kept}")
    if len(chosen) > 1:  # run ids count per registry: two consortia may both have had a run 3
        named = " or ".join(f"{m.run_name}/{m.run_id}" for m in chosen)
        raise InputError(f"{data_dir} holds models of several runs numbered {run_id}; name one: {named}")
    return chosen[0]


def _best_default(data_dir: Path, models: list[SavedModel]) -> SavedModel:
    """The model a partner gets without naming a run: federated, without DP, the best on its validation fold."""
    usable = [model for model in models if not model.never_aggregated and not model.under_dp]
    if not usable:
        kept = ", ".join(f"{m.run_name}/{m.run_id} ({'DP' if m.under_dp else 'no aggregated round'})" for m in models)
        raise InputError(
            f"{data_dir} holds no model of a run that was federated without DP, the only kind taken by default "
            "(a DP run's noise or a run that aggregated nothing leaves a far weaker model); name one with --run",
            expected=f"one of {kept}",
        )
    return max(usable, key=lambda model: (model.valid_score, model.saved))


def _run_choice(run: int | str) -> tuple[str | None, int]:
    """``3`` or ``"3"``: any run with id 3; ``"consortium/3"``: run 3 of the runs named consortium."""
    name, _, number = str(run).strip().rpartition("/")
    if isinstance(run, bool) or not number.isdigit():
        raise InputError(f"{run!r} names no run", expected="a run id (3), or a run name and id (consortium/3)")
    return name or None, int(number)


def load_federated_net(model: SavedModel, data: PartnerData) -> tuple[MultitaskNet, FederationConfig]:
    """The partner's federated network (shared trunk + its private heads) and the run's settings."""
    try:
        federation = FederationConfig.model_validate_json((model.folder / FEDERATION_FILE).read_text())
    except FileNotFoundError:
        raise ArtifactError(
            f"{model.folder} has no {FEDERATION_FILE}: the model of run {model.run_id} was kept by an older fedadmet "
            "that did not record the run's settings, so it cannot be rebuilt; use a newer run (--run) or take part "
            "in a new one"
        ) from None
    except ValueError as exc:
        raise ArtifactError(f"{model.folder / FEDERATION_FILE} cannot be read: {exc}") from None
    kept_from = model.provenance.get("labels_sha256")
    if kept_from is not None and kept_from != recorded_manifest(model.data_dir)["files"]["labels.npz"]:
        raise ArtifactError(
            f"{model.data_dir} was prepared again since run {model.run_id}: the labels (and so the scaling) its "
            "model was trained with are not this folder's any more; take part in a new run, or use the folder "
            "as it was prepared then"
        )
    net = build_net(data.features.shape[1], data.tasks, federation)
    try:
        arrays = load_file(str(model.folder / WEIGHTS_FILE))
    except (OSError, SafetensorError) as exc:
        raise ArtifactError(f"the model file of run {model.run_id} is damaged or unreadable ({exc})") from None
    kept_endpoints = sorted({name.split(".")[1] for name in arrays if name.startswith("heads.")})
    if kept_endpoints != sorted(data.tasks):
        raise ArtifactError(
            f"the model of run {model.run_id} predicts {kept_endpoints}, this folder's endpoints are "
            f"{sorted(data.tasks)}: was the data prepared again since?"
        )
    try:
        net.load_state_dict({name: torch.as_tensor(value) for name, value in arrays.items()})
    except RuntimeError as exc:
        problem = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise ArtifactError(f"the model of run {model.run_id} does not fit this folder: {problem}") from None
    return net, federation


@dataclass(frozen=True)
class HeadChoice:
    """One endpoint's validation scores (AUC-PR or R²) of the network's head alone and of the core recipe's
    blend of it with CatBoost over the partner's features (None: not fitted, e.g. one class only), and which
    one the model uses."""

    endpoint: str
    network: float | None
    blended: float | None

    @property
    def uses_trees(self) -> bool:
        return self.blended is not None and (self.network is None or self.blended > self.network)


@dataclass
class KeptModel:
    """The partner's kept model: the federated network (trunk + refitted heads, trained on at the partner
    where that validates better), blended as the core model blends its trunk (one GBM weight for all
    endpoints) with CatBoost over the partner's keyed features, for the endpoints whose validation score
    the blend raises."""

    net: MultitaskNet = field(repr=False)
    tasks: list[str]
    is_classification: list[bool]
    forest: ObliviousForest = field(repr=False)  # the partner's trees, used where the choices say so
    gbm_weight: float = 0.0
    choices: list[HeadChoice] = field(default_factory=list)
    network_tuned: bool = False  # the network trained on at the partner, trunk too (its copy of the trunk)

    def outputs(self, keyed: np.ndarray) -> np.ndarray:
        """Raw outputs (logits, scaled values) per task for keyed feature rows, each from its chosen head."""
        raw = predict_scaled(self.net, keyed.astype(np.float32))
        blended = [choice.endpoint for choice in self.choices if choice.uses_trees]
        if not blended:
            return raw
        columns = [self.tasks.index(name) for name in blended]
        classifiers = [self.is_classification[j] for j in columns]
        trees = self.forest.predict(
            keyed.astype(np.float32), [self.is_classification[self.tasks.index(h)] for h in self.forest.heads]
        )
        trees = trees[:, [self.forest.heads.index(name) for name in blended]]
        network = averaging_scale(raw[:, columns], classifiers)
        raw[:, columns] = _raw_scale(self.gbm_weight * trees + (1 - self.gbm_weight) * network, classifiers)
        return raw


def _raw_scale(values: np.ndarray, classifiers: list[bool]) -> np.ndarray:
    raw = np.array(values, dtype=np.float64)
    raw[:, classifiers] = logit(raw[:, classifiers])
    return raw


def partner_trees(data_dir: Path, data: PartnerData, config: ModelConfig, seed: int, n_jobs: int) -> ObliviousForest:
    """CatBoost per endpoint on the training folds' exact rows of the partner's keyed features (the core
    recipe's trees). They depend on neither the run nor its network, so they are fitted once per prepared
    folder, tree size and seed, and kept in the folder for every run after.

    The trees read the features, not the trunk's embedding: the trunk was trained on these very rows, so its
    embedding of them carries their labels, and trees over it fit that memory (measured, fair-v2 seed 0,
    AstraZeneca hepatocyte clearance: validation R² 0.118 with the embedding, 0.193 without)."""
    heads = [
        task
        for j, task in enumerate(data.tasks)
        if (
            len(np.unique(data.targets[scored_rows(data, "train", j), j])) == 2
            if data.is_classification[j]
            else len(scored_rows(data, "train", j)) >= 3
        )
    ]
    made_from = {
        "files": recorded_manifest(data_dir)["files"],
        "heads": heads,
        "gbm": config.gbm.model_dump(),
        "seed": seed,
    }
    path = Path(data_dir) / TREES_FOLDER / f"{_digest(made_from)}.safetensors"
    try:
        forest = ObliviousForest.from_arrays(load_file(str(path)), heads)
        if forest is not None:
            return forest
    except (OSError, SafetensorError, ArtifactError):
        pass  # none yet, or damaged: fitted again
    models = {}
    for task in heads:
        j = data.tasks.index(task)
        rows = scored_rows(data, "train", j)
        classifier = bool(data.is_classification[j])
        models[task] = fit_gbm(data.features[rows], data.targets[rows, j], classifier, config.gbm, seed, n_jobs)
    forest = ObliviousForest.from_catboost(models)
    path.parent.mkdir(exist_ok=True)
    with written_atomically(path) as partial:  # another process may fit the same trees
        save_file(forest.arrays(), str(partial))
    return forest


def _digest(record: Any) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def _array_digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def choose_tree_blend(
    net: MultitaskNet, data: PartnerData, trees: ObliviousForest, blend_weights: Sequence[float]
) -> tuple[float, list[HeadChoice]]:
    """The GBM weight the core recipe's rule picks on the validation fold for blending ``trees`` with the
    network's heads, and per endpoint the validation score of the head alone and of the blend."""
    classifiers = [bool(c) for c in data.is_classification]
    network = averaging_scale(predict_scaled(net, data.features), classifiers)
    predicted = trees.predict(data.features, [classifiers[data.tasks.index(task)] for task in trees.heads])
    parts = {}
    for h, task in enumerate(trees.heads):
        j = data.tasks.index(task)
        valid = scored_rows(data, "valid", j)
        metric = "pr-auc" if classifiers[j] else "r2"
        parts[task] = ValidationParts(metric, data.targets[valid, j], predicted[valid, h], network[valid, j])
    usable = {task: part for task, part in parts.items() if part.usable and len(part.labels) >= 3}
    weight = choose_blend_weight(list(usable.values()), blend_weights)
    choices = []
    for task in data.tasks:
        part = usable.get(task)
        if part is None:
            choices.append(HeadChoice(task, None, None))
            continue
        network_score = score(part.metric, part.labels, part.trunk)
        choices.append(HeadChoice(task, network_score, score(part.metric, part.labels, part.blend(weight))))
    return weight, choices


def tuned_network(saved: SavedModel, data: PartnerData) -> tuple[MultitaskNet, FederationConfig, bool]:
    """The partner's own copy of a run's network: trained on from the federated weights, trunk too, on its
    training folds (early-stopped on the validation fold) where that raises the validation score, else the
    network as kept; fitted on first use and kept in the model's folder. The shared trunk stays as it was."""
    net, federation = load_federated_net(saved, data)
    made_for = {
        "recipe": KEPT_RECIPE,
        "weights_sha256": hashlib.sha256((saved.folder / WEIGHTS_FILE).read_bytes()).hexdigest(),
        "labels_sha256": recorded_manifest(saved.data_dir)["files"]["labels.npz"],
    }
    try:
        recorded = json.loads((saved.folder / TUNED_RECORD_FILE).read_text())
        if recorded["made_for"] == made_for:
            if recorded["tuned"]:
                tuned = load_file(str(saved.folder / TUNED_WEIGHTS_FILE))
                net.load_state_dict({name: torch.as_tensor(value) for name, value in tuned.items()})
            return net, federation, bool(recorded["tuned"])
    except (OSError, ValueError, KeyError, SafetensorError, RuntimeError):
        net, _ = load_federated_net(saved, data)  # none yet, another network's, or damaged: trained again
    before, after = refit_heads(net, data, federation, trunk_too=True)
    (saved.folder / TUNED_WEIGHTS_FILE).unlink(missing_ok=True)
    if after > before:
        save_file({k: v.numpy() for k, v in net.state_dict().items()}, str(saved.folder / TUNED_WEIGHTS_FILE))
    record = {"made_for": made_for, "tuned": after > before, "valid_score": {"as_kept": before, "tuned": after}}
    (saved.folder / TUNED_RECORD_FILE).write_text(json.dumps(record, indent=2))
    return net, federation, after > before


def kept_model(saved: SavedModel, data: PartnerData, config: ModelConfig | None = None, n_jobs: int = 1) -> KeptModel:
    """The partner's kept model of a run: its own copy of the network (:func:`tuned_network`) blended with
    its trees (:func:`partner_trees`, :func:`choose_tree_blend`); the choices are made on first use (and
    again when the network or ``config``, the core recipe's trees and blend weights, changed) and kept in
    the model's folder, one record per ``config``."""
    config = config or ModelConfig()
    net, federation, tuned = tuned_network(saved, data)
    trees = partner_trees(saved.data_dir, data, config, federation.seed, n_jobs)
    made_for = {
        "network": {
            name: hashlib.sha256(value.numpy().tobytes()).hexdigest() for name, value in net.state_dict().items()
        },
        "trees": _digest(
            trees.arrays() and {name: hashlib.sha256(a.tobytes()).hexdigest() for name, a in trees.arrays().items()}
        ),
        "heads": list(trees.heads),
        "blend_weights": list(config.blend_weights),
    }
    path = saved.folder / f"head_choice-{_digest(made_for)}.json"
    classifiers = [bool(c) for c in data.is_classification]
    try:
        recorded = json.loads(path.read_text())
        choices = [HeadChoice(**choice) for choice in recorded["choices"]]
        return KeptModel(net, list(data.tasks), classifiers, trees, float(recorded["gbm_weight"]), choices, tuned)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not chosen yet for this network, these trees and weights: chosen now
    weight, choices = choose_tree_blend(net, data, trees, config.blend_weights)
    record = {"gbm_weight": weight, "choices": [asdict(choice) for choice in choices]}
    path.write_text(json.dumps(record, indent=2))
    return KeptModel(net, list(data.tasks), classifiers, trees, weight, choices, tuned)


@dataclass(frozen=True)
class LocalPart:
    """The partner's best local model in the model it uses after joining, and its share of the average."""

    model: ADMETModel = field(repr=False)
    share: float
    recipe: str


def joined_outputs(raw: np.ndarray, local: np.ndarray, share: float, classifiers: list[bool]) -> np.ndarray:
    """The kept federated model's raw outputs averaged with the local model's outputs (averaging scale)."""
    return _raw_scale(after_joining(local, averaging_scale(raw, classifiers), share), classifiers)


@dataclass
class PartnerPredictor:
    """The model a partner uses after joining (its kept federated model, averaged with its best local model
    where ``federate gain`` kept one) with the partner's calibration and domain: what
    :func:`fedadmet.inference.predict` needs of a model (``feature_set``, ``endpoints``, ``predict_features``)."""

    saved: SavedModel
    partner: str
    endpoints: list[str]
    feature_set: FeatureSet
    kept: KeptModel = field(repr=False)
    keyed: Callable[[np.ndarray], np.ndarray] = field(repr=False)  # raw feature rows -> the keyed rows
    targets: TargetScaling = field(repr=False)
    calibration: dict[str, Calibration] = field(repr=False)
    domain: ApplicabilityDomain = field(repr=False)
    validation: dict[str, float] = field(default_factory=dict)  # AUC-PR or R² per endpoint, validation fold
    interval_sizes: dict[str, int] = field(default_factory=dict)  # validation values behind each regression interval
    coverage: float = ModelConfig().conformal_coverage  # what the intervals were calibrated for
    local: LocalPart | None = None  # none: the partner has not kept a local model (`federate gain` keeps one)

    @property
    def net(self) -> MultitaskNet:
        return self.kept.net

    @property
    def form_endpoints(self) -> list[str]:
        """None: the federation learns from parents only (partners' tables are keyed by parent)."""
        return []

    def poor_endpoints(self) -> dict[str, float]:
        """Regression endpoints whose validation R² is below zero: worse than predicting the mean."""
        return {
            name: score
            for name, score in self.validation.items()
            if not get_endpoint(name).is_classification and score < 0
        }

    def thin_intervals(self) -> dict[str, int]:
        """Regression endpoints whose interval rests on too few validation values for its coverage
        guarantee (none: the interval is unknown), with how many it has."""
        return {name: n for name, n in self.interval_sizes.items() if n < conformal_minimum(self.coverage)}

    @property
    def reads_graphs(self) -> bool:
        return False  # the kept model is a network over feature vectors

    def predict_features(self, features: np.ndarray, graphs: Sequence[MolGraph | None] | None = None) -> RawPrediction:
        """Predictions for raw feature rows of :attr:`feature_set` (keyed here, as the partner's data was);
        ``graphs`` is not read."""
        raw = self.kept.outputs(self.keyed(features).astype(np.float32))
        if self.local is not None:
            local = local_outputs(self.local.model, features, self.endpoints, self.targets)
            raw = joined_outputs(raw, local, self.local.share, self.kept.is_classification)
        outputs = self.targets.outputs(raw)
        no_disagreement = np.zeros(len(features))  # one network: plain split-conformal intervals
        values, uncertainty = {}, {}
        for j, name in enumerate(self.endpoints):
            values[name], uncertainty[name] = report(
                get_endpoint(name), outputs[:, j], self.calibration[name], no_disagreement
            )
        domain = self.domain.score(features[:, self.feature_set.block("morgan")])
        return RawPrediction.from_parts(values, uncertainty, self.domain.for_endpoints(domain, self.endpoints))


def partner_predictor(
    data_dir: Path,
    key: bytes | str,
    run: int | str | None = None,
    *,
    cache_dir: Path | None = None,
    parallel: ParallelOptions | None = None,
    config: ModelConfig | None = None,
) -> PartnerPredictor:
    """The partner's kept model of ``run`` (see :func:`find_saved_model` for the default), averaged with
    its best local model where ``federate gain`` kept one, ready to predict; ``key`` is the consortium key
    the folder was prepared with (bytes, or its hex text).
    ``cache_dir`` keeps the reference set's and the partner's compounds' features between calls;
    ``config``: the trees' size and blend weights (the core model's by default)."""
    data_dir = Path(data_dir)
    if isinstance(key, str):
        try:
            key = bytes.fromhex(key.strip())
        except ValueError:
            raise InputError(
                "the key is not hex text", expected="the key's bytes, or its hex as in the key file"
            ) from None
    data = PartnerData.load(data_dir, key_id(key))  # checks the folder's files and that it is this key's
    manifest = recorded_manifest(data_dir)
    saved = find_saved_model(data_dir, run)
    local = load_local_model(data_dir)
    # the trees as `federate gain` assessed them beside the local model, unless asked for others
    settings = config or (local[2] if local is not None else ModelConfig())
    kept = kept_model(saved, data, settings, (parallel or ParallelOptions()).n_jobs)
    consortium = ConsortiumConfig.model_validate(manifest["consortium"])
    keyed, _ = consortium_transform(key, consortium, cache_dir, str(manifest["reference_hash"]), parallel)
    compounds = pd.read_csv(data_dir / "compounds.csv", usecols=["smiles"])["smiles"].tolist()
    quiet = replace(parallel or ParallelOptions(), progress=False)
    raw = kept.outputs(data.features)
    part = None
    if local is not None:
        part, raw = _joined_with(local[0], local[1], data, raw, compounds, cache_dir, quiet)
    validation = score_tasks(data, raw, "valid")
    predicted = data.scaling.outputs(raw)
    calibration, interval_sizes = {}, {}
    for j, name in enumerate(data.tasks):
        classifier = bool(data.is_classification[j])
        rows = scored_rows(data, "valid", j)
        truth = data.targets[rows, j].astype(np.float64)
        if not classifier:
            truth = data.scaling.unscale(j, truth)
            interval_sizes[name] = len(truth)
        calibration[name] = fit_calibration(
            classifier, truth, predicted[rows, j], np.zeros(len(truth)), settings.conformal_coverage
        )
    morgan = compute_features(compounds, MorganCountFeaturizer(), parallel=quiet, cache_dir=cache_dir)
    labelled = ~np.isnan(data.targets)  # which endpoints each compound trained (or validates)
    train, valid = data.folds > VALID_FOLD, data.rows("valid")
    domain = ApplicabilityDomain.fitted(
        morgan[train], labelled[train], data.tasks, morgan[valid], labelled[valid], settings.ad_quantile
    )
    return PartnerPredictor(
        saved, data.name, list(data.tasks), default_feature_set(), kept, keyed,
        data.scaling, calibration, domain, validation, interval_sizes, settings.conformal_coverage, part,
    )  # fmt: skip


def _joined_with(
    model: ADMETModel,
    recipe: str,
    data: PartnerData,
    raw: np.ndarray,
    compounds: list[str],
    cache_dir: Path | None,
    parallel: ParallelOptions,
) -> tuple[LocalPart, np.ndarray]:
    """The local model's part in the model after joining (its share chosen on the validation fold) and the
    kept model's raw outputs ``raw`` with the validation rows averaged with it: those are all that the
    predictor's validation scores and calibration read, so the local model predicts only them here."""
    if model.feature_set.signature != default_feature_set().signature or sorted(model.endpoints) != sorted(data.tasks):
        raise ArtifactError(
            f"the local model in {data.name}'s folder does not match its features or endpoints: run "
            "`fedadmet federate gain` again to train it on this folder"
        )
    rows = data.rows("valid")
    features = compute_features([compounds[i] for i in rows], model.feature_set, parallel=parallel, cache_dir=cache_dir)
    local = np.full(raw.shape, np.nan)
    local[rows] = local_outputs(model, features, data.tasks, data.scaling)
    classifiers = [bool(c) for c in data.is_classification]
    share = choose_local_share(data, local, averaging_scale(raw, classifiers))
    averaged = np.array(raw, dtype=np.float64)
    averaged[rows] = joined_outputs(raw[rows], local[rows], share, classifiers)
    return LocalPart(model, share, recipe), averaged
