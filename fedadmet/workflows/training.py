"""Training a model: one code path for `fedadmet train`, the served default model and the TDC benchmark.

The model: a multitask trunk over every endpoint (plus auxiliary endpoints that only shape it), a GBM
head per endpoint that also sees the predictions of a side-task predictor trained on public side data,
one blend weight, calibration and a domain fitted on a validation part.

Two recipes of it (:class:`TrainingRecipe`, ``purpose``): the *benchmark* recipe trains on a benchmark's
own train/valid split (TDC's train_val) with its test molecules excluded everywhere; the *served* recipe,
which makes the bundled default model, trains on every public label we have (:func:`load_training_data`
without a path: TDC train_val and test, PharmaBench, CYP1A2/2C19, Tox21, ClinTox), de-duplicated by
structure, without any molecule of the external validation sets, and holds out a scaffold part of each
endpoint for calibration. The benchmark's scores are therefore not the served model's scores.

The leakage guard: molecules that judge a model never train it. For the benchmark these are its test
sets; for a deployable model, the scaffold-held-out validation part that calibrates it (its molecules
train neither the trunk, through another endpoint's rows, nor the side-task predictor). Both are checked
with :func:`~fedadmet.data.splits.leaked_molecules` before anything is fitted.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import fedadmet
from fedadmet.chem.featurizers import feature_set_named
from fedadmet.chem.graphs import graphs_from_smiles
from fedadmet.config import get_settings
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.public import (
    bundled_path,
    non_benchmark_frames,
    served_training_frames,
    side_task_frames,
    training_frames_from_path,
    without_external_molecules,
)
from fedadmet.data.splits import leaked_molecules, split_for_validation, without_molecules
from fedadmet.exceptions import FedadmetError, InputError
from fedadmet.models.admet_model import ADMETModel
from fedadmet.models.artifacts import check_model_destination, save_model
from fedadmet.models.auxiliary import FittedAuxiliary, fit_auxiliary
from fedadmet.models.config import GraphConfig, ModelConfig
from fedadmet.models.fitting import fit_model
from fedadmet.models.targets import TargetScaling
from fedadmet.workflows.reference import write_reference

MIN_ROWS_PER_ENDPOINT = 20
EndpointFrames = Mapping[str, pd.DataFrame]


__all__ = [
    "ADMETModel",
    "LeakageError",
    "ModelConfig",
    "Purpose",
    "TrainedModel",
    "TrainingData",
    "TrainingRecipe",
    "check_model_destination",
    "fit_side_tasks",
    "load_training_data",
    "recipe_for",
    "train_and_save",
    "train_model",
]


class LeakageError(FedadmetError):
    """A molecule that judges the model would have trained it."""


class Purpose(StrEnum):
    """What a model is trained for: see the module docstring."""

    SERVED = "served"
    BENCHMARK = "benchmark"


@dataclass(frozen=True)
class TrainingRecipe:
    """The options of the one training path: purpose, seed, side-task predictor on or off, which endpoints,
    GBM size."""

    purpose: Purpose = Purpose.SERVED
    seed: int = 0
    side_tasks: bool = True
    endpoints: tuple[str, ...] | None = None  # None: every endpoint of the data
    gbm_iterations: int | None = None  # None: the benchmarked number
    valid_fraction: float = 0.1  # when no validation part is given
    config: ModelConfig = field(default_factory=ModelConfig)  # the hyper-parameters besides the above

    def model_config(self) -> ModelConfig:
        update: dict[str, object] = {"seed": self.seed}
        if self.gbm_iterations is not None:
            update["gbm"] = self.config.gbm.model_copy(update={"iterations": self.gbm_iterations})
        return self.config.model_copy(update=update)


# The served model's graph member: two D-MPNNs (seeds 0 and 1, averaged) over the regression tasks with the 2D
# descriptors, at most 25 epochs each. One network over every task (the model of 7869453) stopped at its sixth
# epoch and, at its fixed share, lowered the scaffold-validation score of 18 of the 28 classifiers against the
# trees alone (model card, validation gbm_only against blend), while no external column measures a classifier;
# the ExpansionRx columns it lifted (clearance, solubility, tissue binding) are regressions.
SERVED_GRAPH = {"graph_members": 2, "graph": GraphConfig(max_epochs=25, patience=5, tasks="regression")}


def recipe_for(data: TrainingData, **options: Any) -> TrainingRecipe:
    """`fedadmet train`'s recipe for ``data``: on the bundled public data (the served default model), with all
    204 2D descriptors, since the same recipe with the lean set ranked ExpansionRx and ASAP worse (mean Spearman
    over the 12 mapped columns 0.467 against 0.486, lower on 9 of 12; README, Default model), and a graph member
    (a D-MPNN ranked another lab's molecules better blended in: benchmarks/results/generalise_graph*.md); on a
    user's data, the lean set."""
    config = ModelConfig(feature_set="full", **SERVED_GRAPH) if data.bundled else ModelConfig()
    return TrainingRecipe(config=config, **options)


@dataclass
class TrainingData:
    """Labelled frames to train on, what they are, and what was made of the user's columns."""

    frames: dict[str, pd.DataFrame]
    description: str
    bundled: bool  # the bundled public data (which then also holds the side data's CYP/Tox21/ClinTox sets)
    labels: list[tuple[str, str, str]] = field(default_factory=list)  # (file, column, endpoint) read as labels
    ignored: dict[str, list[str]] = field(default_factory=dict)  # file -> columns read as neither SMILES nor label
    curation: dict[str, object] = field(default_factory=dict)  # what the served recipe removed, for the model card


@dataclass
class TrainedModel:
    model: ADMETModel
    folder: Path


def load_training_data(
    path: Path | None = None,
    endpoint: str | None = None,
    smiles_column: str | None = None,
    label_mapping: Mapping[str, str] | None = None,
) -> TrainingData:
    """The user's file or folder (``label_mapping``: column -> endpoint), or the bundled public data."""
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel()
    if path is None:
        if label_mapping:
            raise InputError("--label maps columns of your own data file; give the file or folder too")
        served = served_training_frames(limits=limits, parallel=parallel)
        curation = {
            "rows_read": served.rows_read,
            "duplicates_merged": served.duplicates_merged,
            "out_of_range_removed": served.out_of_range_removed,
            "external_validation_molecules_removed": served.external_molecules,
            "external_validation_rows_removed": served.external_rows,
        }
        return TrainingData(served.frames, "bundled public data (all labels)", bundled=True, curation=curation)
    files = training_frames_from_path(path, endpoint, smiles_column, label_mapping, limits=limits, parallel=parallel)
    return TrainingData(files.frames, str(path), bundled=False, labels=files.labels, ignored=files.ignored)


def bundled_side_frames(data: TrainingData) -> dict[str, pd.DataFrame]:
    """The side-task predictor's public data; read again only when ``data`` is not the bundled data."""
    settings = get_settings()
    limits, parallel = settings.molecule_limits(), settings.parallel()
    public = (
        data.frames
        if data.bundled
        else non_benchmark_frames(bundled_path(), ".csv.gz", limits=limits, parallel=parallel)
    )
    side = side_task_frames(public, bundled_path(), ".csv.gz", limits=limits, parallel=parallel)
    return without_external_molecules(side)[0] if data.bundled else side


def fit_side_tasks(
    side_frames: EndpointFrames,
    recipe: TrainingRecipe,
    exclude: Collection[str] = (),
    cache_dir: Path | None = None,
    progress: bool = False,
) -> FittedAuxiliary:
    """The side-task predictor on ``side_frames`` without the molecules of ``exclude``."""
    side = without_molecules(side_frames, exclude)
    _refuse_leaks(side, exclude, "the side-task predictor")
    parallel = get_settings().parallel(progress)
    features = feature_set_named(recipe.config.feature_set)
    return fit_auxiliary(side, features, recipe.config.auxiliary, recipe.seed, cache_dir, parallel)


def train_model(
    frames: EndpointFrames,
    recipe: TrainingRecipe | None = None,
    *,
    valid: EndpointFrames | None = None,
    auxiliary: EndpointFrames | None = None,
    side_frames: EndpointFrames | None = None,
    side_tasks: FittedAuxiliary | None = None,
    exclude: Collection[str] = (),
    description: str = "",
    cache_dir: Path | None = None,
    progress: bool | None = None,
) -> ADMETModel:
    """Fit one model on every endpoint of ``frames`` (``smiles``/``form``/``y`` frames, source units).

    ``valid``: the validation part (a benchmark's own split); without it a scaffold-held-out part of each
    endpoint is drawn and guarded as the module says. ``auxiliary``: endpoints that only shape the trunk.
    ``side_tasks``: a side-task predictor to reuse (the benchmark trains one for all seeds), else one is
    fitted here from ``side_frames`` when the recipe wants it. ``exclude``: molecules nothing may train on.
    """
    recipe = recipe or TrainingRecipe()
    frames = _chosen_endpoints(frames, recipe)
    _check_labels(frames)
    config = recipe.model_config()
    held_out = valid is None
    if valid is None:
        train, valid = split_for_validation(frames, recipe.valid_fraction, config.seed)
    else:
        train, valid = frames, _chosen_endpoints(valid, recipe)
    judging = set(exclude) | ({s for frame in valid.values() for s in frame["smiles"]} if held_out else set())
    if not recipe.side_tasks:
        side_tasks = None
    elif side_tasks is None and side_frames:
        side_tasks = fit_side_tasks(side_frames, recipe, judging, cache_dir, bool(progress))
    if side_tasks is not None:
        _refuse_leaks({"side tasks": pd.DataFrame({"smiles": list(side_tasks.out_of_fold)})}, judging, "side tasks")
    trunk_frames = {**(auxiliary or {}), **train} | ({} if held_out else dict(valid))
    _refuse_leaks(without_molecules(trunk_frames, judging), judging, "the trunk")
    model = fit_model(
        train,
        valid,
        auxiliary,
        config,
        parallel=get_settings().parallel(progress),
        cache_dir=cache_dir,
        exclude_from_trunk=exclude,
        side_tasks=side_tasks,
        hold_out_validation=held_out,
    )
    model.metadata |= {
        "recipe": recipe.purpose.value,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": description,
        "data_sha256": {name: frame_hash(frame) for name, frame in frames.items()},
        "rows": {name: len(frame) for name, frame in frames.items()},
        "valid_fraction": recipe.valid_fraction if held_out else None,
        "excluded_molecules": len(set(exclude)),
        "versions": training_versions(),
    }
    return model


# The libraries whose version changes a trained model's numbers (features, trees, networks).
MODEL_LIBRARIES = ("rdkit", "catboost", "torch", "numpy", "scikit-learn")


def training_versions() -> dict[str, str | None]:
    """fedadmet's, Python's and the numerical libraries' versions: two trainings of one recipe and seed
    give the same model only where these agree (a fresh install may resolve newer ones)."""
    return {
        "fedadmet": fedadmet.__version__,
        "python": platform.python_version(),
        **{name: _installed_version(name) for name in MODEL_LIBRARIES},
    }


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def train_and_save(
    data: TrainingData,
    recipe: TrainingRecipe,
    destination: Path,
    cache_dir: Path | None = None,
    progress: bool | None = None,
    announce: Callable[[str], None] = lambda _: None,
) -> TrainedModel:
    """`fedadmet train`: the recipe on ``data``, saved to ``destination`` with the approved-drug reference
    that serving's percentiles read. The destination is checked first, so a wrong one costs no training."""
    check_model_destination(destination)
    side_frames = bundled_side_frames(data) if recipe.side_tasks else None
    model = train_model(
        data.frames,
        recipe,
        side_frames=side_frames,
        description=data.description,
        cache_dir=cache_dir,
        progress=progress,
    )
    if data.curation:
        model.metadata["curation"] = data.curation
    folder = save_model(model, destination)
    announce("predicting the approved drugs for percentiles…")
    write_reference(model, folder)
    return TrainedModel(model, folder)


def frame_hash(frame: pd.DataFrame) -> str:
    """Order-free hash of an endpoint's (smiles, label) pairs, stored in the model card."""
    rows = sorted(f"{s}\t{y!r}" for s, y in zip(frame["smiles"], frame["y"], strict=True))
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _chosen_endpoints(frames: EndpointFrames, recipe: TrainingRecipe) -> dict[str, pd.DataFrame]:
    if recipe.endpoints is None:
        return dict(frames)
    missing = sorted(set(recipe.endpoints) - set(frames))
    if missing:
        raise InputError("no labels for these endpoints", got=missing, expected=f"some of {sorted(frames)}")
    return {name: frames[name] for name in recipe.endpoints}


def _check_labels(frames: EndpointFrames) -> None:
    """Refuse data a model trained on would be useless for, before any featurising."""
    if not frames:
        raise InputError("no labelled data to train on")
    too_small = {name: len(frame) for name, frame in frames.items() if len(frame) < MIN_ROWS_PER_ENDPOINT}
    if too_small:
        raise InputError("endpoints with too few labelled rows", got=too_small, expected=f">= {MIN_ROWS_PER_ENDPOINT}")
    for name, frame in frames.items():
        problem = get_endpoint(name).label_problem(frame["y"].to_numpy())
        if problem is not None:
            raise InputError(f"cannot train {name}: {problem}")


def _refuse_leaks(training: EndpointFrames, judging: Collection[str], part: str) -> None:
    leaked = leaked_molecules(training, judging)
    if leaked:
        raise LeakageError(f"{len(leaked)} molecule(s) that judge the model would train {part}, e.g. {min(leaked)}")


def graph_member_predictions(
    table: pd.DataFrame,
    molecules: Sequence[str],
    *,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 0,
    max_epochs: int = 40,
) -> pd.DataFrame:
    """A graph member trained on its own, for experiments (benchmarks/generalise/graph.py): a D-MPNN on
    ``table`` (``smiles`` and one regression column per task on its own scale, NaN where unmeasured; targets
    z-scored per task), early-stopped on a random 10 % of its molecules, predicting ``molecules`` on the
    table's scales. ``extra``: per-molecule features for the table's rows and for ``molecules``, already scaled."""
    from fedadmet.models.graph import GraphTasks, fit_graph_net, random_split  # PyTorch: on use

    tasks = [column for column in table.columns if column != "smiles"]
    graphs = graphs_from_smiles(table["smiles"].tolist())
    kinds = np.zeros(len(tasks), dtype=bool)
    data = GraphTasks.with_graphs(graphs, table[tasks].to_numpy(float), kinds, None if extra is None else extra[0])
    scaling = TargetScaling.fit(list(data.targets.T), kinds)
    data.targets = np.column_stack([scaling.scale(j, data.targets[:, j]) for j in range(len(tasks))]).astype(np.float32)
    net, _ = fit_graph_net(tasks, *random_split(data, 0.1, seed), GraphConfig(max_epochs=max_epochs), seed)
    raw = net.weights()(graphs_from_smiles(list(molecules)), None if extra is None else extra[1])
    return pd.DataFrame(scaling.outputs(raw), columns=tasks)
