"""Federated runs as use cases: open (start, or check and resume) a run in the registry, record it round
by round, run it with Flower's simulation engine or serve it to a deployment (`flwr run`); and, at a
partner, the model it kept of a run and what joining gained. Runs are read back, as each user may see
them, in :mod:`fedadmet.workflows.views`. The Flower runtime (:mod:`fedadmet.federated`) knows neither the
registry nor the model: this module gives it a task by name and a :class:`RegistryRecorder`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from flwr.app import Context
from sqlalchemy.orm import Session, sessionmaker

from fedadmet.config import get_settings
from fedadmet.exceptions import InputError
from fedadmet.federated.checkpoints import Checkpoint
from fedadmet.federated.coordinator import OpenedRun, RunInterruptedError, RunSettings
from fedadmet.federated.failures import PartnerFailure
from fedadmet.federated.privacy import spent_epsilon
from fedadmet.federated.protocol import VALID_SCORE, FederatedTask, get_task, replaces_kept
from fedadmet.federated.recorder import EvaluationRound, FitRound, Published, RunEnd
from fedadmet.federated.server_app import make_server_app
from fedadmet.federated.simulation import run_simulated
from fedadmet.names import check_run_name
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.registry.tables import FederationRun

if TYPE_CHECKING:  # the molecular task's parts: imported where a partner's model is used (PyTorch)
    from fedadmet.federated.config import FederationConfig
    from fedadmet.federated.gain import JoiningGain
    from fedadmet.federated.partner_model import SavedModel
    from fedadmet.federated.task import PartnerData
    from fedadmet.models.admet_model import ADMETModel
    from fedadmet.models.trunk import MultitaskNet
    from fedadmet.workflows.training import TrainingRecipe

__all__ = ["FederationRun", "RunInterruptedError", "RunSettings", "open_run", "server_app", "simulate"]
log = logging.getLogger("fedadmet.federation")
RESUMABLE_CHANGES = frozenset({"rounds", "secagg_stage_timeout_s", "min_partners", "patience"})


class RegistryRecorder:
    """The runtime's :class:`~fedadmet.federated.recorder.RunRecorder` over the registry: one short session
    per record, so that a round's record is committed before the next begins."""

    def __init__(self, settings: RunSettings) -> None:
        if settings.run_id is None:
            raise RuntimeError("the run has no registry id yet; open it first")
        self.settings, self.run_id = settings, settings.run_id

    @property
    def sessions(self) -> sessionmaker[Session]:
        return open_registry(self.settings.registry_url)  # made (and migrated) once per URL

    def aggregated_partner_counts(self, before_round: int) -> list[int]:
        with self.sessions.begin() as session:
            run = repository.get_run(session, self.run_id)
            return [len(r.partners) for r in run.rounds if r.round < before_round and r.partners] if run else []

    def record_fit(self, fit: FitRound) -> None:
        excluded = {name: failure.reason for name, failure in fit.excluded.items()}
        metrics = {"fit": fit.metrics} if fit.partners else {}
        with self.sessions.begin() as session:
            repository.record_round(
                session, self.run_id, fit.round, fit.partners, metrics, excluded, epsilon=fit.epsilon
            )

    def record_evaluation(self, evaluation: EvaluationRound) -> None:
        failed = {name: f"evaluation failed: {failure.reason}" for name, failure in evaluation.failures.items()}
        with self.sessions.begin() as session:  # a round SecAgg+ halted has no row yet: it gets one
            row = repository.get_round(session, self.run_id, evaluation.round) or repository.record_round(
                session, self.run_id, evaluation.round, [], {}
            )
            row.metrics = {**row.metrics, "evaluate": evaluation.metrics}
            row.excluded = {**failed, **row.excluded}  # a fit-step reason, if any, says more
            row.bytes_sent = evaluation.bytes_sent

    def publish(self, published: Published) -> dict[str, Any]:
        """The run's model version: the artifact, who made it, the final shared metrics and the privacy spent."""
        settings, plan = self.settings, self.settings.federation
        with self.sessions.begin() as session:
            run = repository.get_run(session, self.run_id)
            rounds = run.rounds if run is not None else []
            partners = sorted({p for r in rounds for p in r.partners})
            fewest = min((len(r.partners) for r in rounds if r.partners), default=settings.n_partners)
            epsilon = spent_epsilon(plan.privacy, published.rounds, fewest, settings.n_partners)
            final = kept_by_partner(rounds)
            last_fit = next((r.metrics["fit"] for r in reversed(rounds) if r.metrics.get("fit")), {})
            # The most any partner reported spending under record-level DP at its own site (a task's own DP).
            record_epsilon = max((float(m["epsilon"]) for m in last_fit.values() if "epsilon" in m), default=None)
            plan_record_delta = (plan.model_dump().get("record_dp") or {}).get("delta")
            version = repository.publish_version(
                session,
                settings.model_name,
                kind="federated",
                artifact_uri=str(published.artifact.resolve()),
                endpoints=[],
                data_hashes={"trunk_sha256": published.digest},
                metrics={
                    "partners": final,
                    "epsilon": epsilon,
                    "delta": plan.privacy.delta if plan.privacy.enabled else None,
                    **({"record_level_epsilon": record_epsilon} if record_epsilon is not None else {}),
                    **({"record_level_delta": plan_record_delta} if plan_record_delta is not None else {}),
                },
                lineage={
                    "run_id": self.run_id,
                    "run_name": settings.run_name,
                    "task": settings.task,
                    "partners": partners,
                    "rounds": published.rounds,
                    "converged_at": published.converged_at,  # none: it ran every planned round
                    "strategy": plan.strategy,
                    "secagg": plan.secagg,
                    "key_id": settings.key_id,
                    "trunk_parameters": published.parameters,
                },
            )
            repository.finish_run(session, self.run_id, "completed", model_version_id=version.id)
            return {
                "run_id": self.run_id,
                "model_version": version.version,
                "rounds": published.rounds,
                "epsilon": epsilon,
            }

    def end(self, end: RunEnd) -> None:
        """Record why the run ended, unless its end is recorded already (the ServerApp records its own; a
        simulation records one the ServerApp never reached). A registry that fails here too must not hide
        the original error."""
        try:
            with self.sessions.begin() as session:
                run = repository.get_run(session, self.run_id)
                if run is not None and run.status == "running":
                    log.error("run %s %s: %s", self.run_id, end.status, end.reason)
                    failures = [_record(failure) for failure in end.failures]
                    repository.finish_run(session, run.id, end.status, error=end.reason, partner_failures=failures)
        except Exception:  # logged; the caller re-raises the error that ended the run
            log.exception("could not record the end of run %s in the registry", self.run_id)


def kept_by_partner(rounds: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """What each partner kept of the run (not the final round's trunk): the rule a partner keeps its model by
    (:func:`~fedadmet.federated.protocol.replaces_kept`) applied to the validation scores it shared each
    round; its shared metrics then, with the round (``kept_round``) and the last aggregated round its trunk
    held (``trunk_round``). Partners that shared no score (under DP none do) are not listed."""
    kept: dict[str, dict[str, Any]] = {}
    trunk_round = 0
    for row in sorted(rounds, key=lambda r: r.round):
        trunk_round = row.round if row.partners else trunk_round
        for partner, metrics in (row.metrics.get("evaluate") or {}).items():
            if VALID_SCORE not in metrics:
                continue
            current = kept.get(partner, {VALID_SCORE: -np.inf, "trunk_round": 0})
            if replaces_kept(current, float(metrics[VALID_SCORE]), trunk_round):
                kept[partner] = {**metrics, "kept_round": row.round, "trunk_round": trunk_round}
    return kept


def _record(failure: PartnerFailure) -> dict[str, str]:
    return {"partner": failure.partner, "stage": failure.stage, "reason": failure.reason}


def open_run(settings: RunSettings) -> RunSettings:
    """Start a new registry run with an empty checkpoint folder, or (``settings.run_id`` set) check that
    that run may be carried on: not completed, the same name and settings, and a checkpoint (if any) made
    by this very run with the same partners and consortium key (as recorded when the run began, if it made
    no checkpoint). Returns the settings naming the run."""
    with open_registry(settings.registry_url).begin() as session:
        if settings.run_id is None:
            return _start(session, settings)
        run = repository.get_run(session, settings.run_id)
        if run is None:
            raise InputError(f"no federation run {settings.run_id} in the registry to resume")
        settings = settings.model_copy(update={"run_name": settings.run_name or run.name, "started": _start_stamp(run)})
        problems = _resume_problems(run, settings)
        if problems:
            raise InputError(f"run {run.id} cannot go on from {settings.run_folder}: " + "; ".join(problems))
        repository.reopen_run(session, run.id)
    return settings


def run_plan(given: dict[str, Any], resume: int | None = None, registry_url: str | None = None) -> dict[str, Any]:
    """A run's federation settings: those ``given`` (``privacy`` a dict of its own given fields) over the
    defaults, or, resuming run ``resume``, over the settings that run was started with: a resume takes the
    run's own strategy, SecAgg+ and DP without being told them again."""
    recorded: dict[str, Any] = {}
    if resume is not None:
        with open_registry(registry_url).begin() as session:
            run = repository.get_run(session, resume)
            if run is None:
                raise InputError(f"no federation run {resume} in the registry to resume")
            recorded = dict(run.config)
    privacy = {**recorded.get("privacy", {}), **given.get("privacy", {})}
    return {**recorded, **given, "privacy": privacy}


def _start(session: Session, settings: RunSettings) -> RunSettings:
    check_run_name(settings.run_name)
    federation = settings.federation
    config = federation.model_dump(mode="json")
    run = repository.start_run(session, settings.run_name, federation.strategy, federation.secagg, config)
    session.refresh(run)  # the start time as the registry stores it, which a resume reads back
    settings = settings.model_copy(update={"run_id": run.id, "started": _start_stamp(run)})
    if settings.run_folder.exists():  # left by a registry that was since replaced: not this run's
        orphan = settings.run_folder.with_name(f"{settings.run_folder.name}.orphaned-{int(time.time())}")
        settings.run_folder.rename(orphan)
        log.warning("moved %s aside to %s: the registry has no run it belongs to", settings.run_folder, orphan)
    Checkpoint(settings.run_folder, settings.identity()).begin()
    return settings


def _resume_problems(run: FederationRun, settings: RunSettings) -> list[str]:
    """Why ``run`` cannot be carried on with ``settings`` (none: it can). Everything that shapes the model
    or its privacy must stay; more rounds, a longer SecAgg+ wait or another quorum may change. (DP switched
    on halfway would publish an epsilon for noiseless rounds.)"""
    problems = [f"run name {run.name!r} differs from {settings.run_name!r}"] if run.name != settings.run_name else []
    ours = settings.federation.model_dump(mode="json")
    problems += [
        f"setting {key} {run.config.get(key)!r} differs from {ours[key]!r}"
        for key in sorted(set(ours) - RESUMABLE_CHANGES)
        if run.config.get(key) != ours[key]
    ]
    if ours.get("record_dp") and ours["rounds"] > int(run.config.get("rounds", 0)):
        problems.append(
            f"its record-level DP noise was calibrated for {run.config.get('rounds')} rounds; more would spend "
            "more than its target ε"
        )
    if run.status == "completed":
        problems.append("it completed already; start a new run instead")
    if settings.run_folder.is_dir() and Checkpoint(settings.run_folder).in_use():
        problems.append("it is running now in another process; wait for it to end or stop it first")
    if not settings.run_folder.is_dir():  # elsewhere it would start again from round 1, unchecked
        problems.append("no folder of it there: give the --checkpoint-dir the run was started with")
    recorded = Checkpoint(settings.run_folder).recorded_identity()
    if recorded is not None:
        problems += [
            f"checkpoint {key} {recorded.get(key)!r} differs from {value!r}"
            for key, value in settings.identity().items()
            if recorded.get(key) != value
        ]
    return problems


def _start_stamp(run: FederationRun) -> str:
    return run.started.strftime("%Y-%m-%dT%H:%M:%S.%f")


def simulate(
    partner_dirs: Sequence[Path],
    settings: RunSettings,
    require_secagg: bool = True,
    task: FederatedTask | None = None,
) -> FederationRun:
    """Run the federation over ``partner_dirs`` with Flower's simulation engine and return the registry
    record of this very run (rounds included), whatever its outcome: completed, failed (with the reason)
    or interrupted (Ctrl-C). ``task`` defaults to the one ``settings.task`` names.

    A new run is started unless ``settings.run_id`` names one to resume; wrong inputs raise InputError
    before anything runs."""
    task = task or get_task(settings.task)
    if len(partner_dirs) < 2:
        raise InputError("a federation needs at least two partners", got=[str(p) for p in partner_dirs])
    resolved = [str(Path(p).resolve()) for p in partner_dirs]
    if len(set(resolved)) < len(resolved):  # one partner would count twice (SecAgg+'s minimum, the weights)
        repeated = sorted({folder for folder in resolved if resolved.count(folder) > 1})
        raise InputError("the same partner folder is given more than once", got=repeated)
    partners = task.check_partners(partner_dirs)
    settings.federation.check_partners(len(partner_dirs))
    update = {"n_partners": len(partner_dirs), "key_id": partners.key_id, "partners": partners.names, "task": task.name}
    settings = open_run(settings.model_copy(update=update))
    run_simulated(OpenedRun(settings, task, RegistryRecorder(settings)), partner_dirs, require_secagg)
    with open_registry(settings.registry_url).begin() as session:
        run = repository.get_run(session, settings.run_id)  # type: ignore[arg-type]
        assert run is not None  # open_run made or found it
        return run


def completed_run(
    registry_url: str, name: str, federation: FederationConfig, partner_dirs: Sequence[Path]
) -> FederationRun | None:
    """The newest run of ``name`` the registry holds as completed with exactly these settings and whose model
    every partner of ``partner_dirs`` kept, if any: what a stopped experiment needs so as not to train a
    finished run again."""
    from fedadmet.federated.tasks.molecular import WEIGHTS_FILE, partner_model_folder

    settings = federation.model_dump(mode="json")
    with open_registry(registry_url).begin() as session:
        return next(
            (
                run
                for run in repository.list_runs(session)
                if run.name == name
                and run.status == "completed"
                and run.config == settings
                and all((partner_model_folder(Path(d), name, run.id) / WEIGHTS_FILE).is_file() for d in partner_dirs)
            ),
            None,
        )


def _open_deployed(context: Context) -> OpenedRun:
    """The run a deployment's run config names (``resume-run`` carries one on), opened in its registry."""
    settings = open_run(RunSettings.from_run_config(dict(context.run_config)))
    return OpenedRun(settings, get_task(settings.task), RegistryRecorder(settings))


server_app = make_server_app(_open_deployed)  # what the app folder's pyproject names for `flwr run`


def kept_model(partner_dir: Path, run: int | str | None = None) -> SavedModel:
    """The model a partner kept of ``run`` (its id or NAME/ID; default: the best federated without DP)."""
    from fedadmet.federated.partner_model import find_saved_model

    return find_saved_model(partner_dir, run)


def assess_gain(
    partner_dir: Path,
    model: SavedModel,
    recipe: TrainingRecipe | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> tuple[JoiningGain, list[Path]]:
    """What joining gained for this partner: the model it uses after joining (its best local model averaged
    with its kept federated model) against its best local model alone (the core recipe, ``recipe``, on its
    own training folds), on its test fold; written as gain.json, gain.md and gain.png beside the model. The
    local model is kept in the folder, where the partner's predictor finds it. Runs at the partner, on its
    folder: nothing leaves it."""
    from fedadmet.federated.gain import joining_gain, write_gain_report
    from fedadmet.federated.local_model import save_local_model
    from fedadmet.federated.task import PartnerData
    from fedadmet.workflows.training import TrainingRecipe

    recipe = recipe or TrainingRecipe()
    data = PartnerData.load(Path(partner_dir))
    local_model = train_local_best(Path(partner_dir), data, recipe, cache_dir, progress)
    described = "the core recipe on this partner's training folds" + ("" if recipe.side_tasks else ", no side tasks")
    save_local_model(Path(partner_dir), local_model, described, recipe.model_config())
    local = local_model_outputs(Path(partner_dir), data, local_model, cache_dir)
    n_jobs = get_settings().parallel().n_jobs
    result = joining_gain(partner_dir, model, local, described, recipe.model_config(), n_jobs)
    return result, write_gain_report(result, model.folder)


def local_best_outputs(
    partner_dir: Path, data: PartnerData, recipe: TrainingRecipe, cache_dir: Path | None, progress: bool
) -> np.ndarray:
    """The outputs of the partner's best local model (:func:`train_local_best`) on its validation and test
    folds (NaN elsewhere), on the averaging scale (probabilities, z-scored values): the
    validation rows let a benchmark choose among recipes."""
    model = train_local_best(partner_dir, data, recipe, cache_dir, progress)
    return local_model_outputs(partner_dir, data, model, cache_dir)


def train_local_best(
    partner_dir: Path, data: PartnerData, recipe: TrainingRecipe, cache_dir: Path | None, progress: bool
) -> ADMETModel:
    """The partner's best local model: the core recipe (:func:`~fedadmet.workflows.training.train_model`)
    on its training folds, with its validation fold as the recipe's validation part; the test fold trains
    nothing, the side tasks neither."""
    from fedadmet.data.catalogue import get_endpoint
    from fedadmet.federated.task import TEST_FOLD
    from fedadmet.workflows.training import TrainingData, bundled_side_frames, train_model

    smiles = pd.read_csv(partner_dir / "compounds.csv", usecols=["smiles"])["smiles"].to_numpy()
    endpoints = [get_endpoint(task) for task in data.tasks]

    def frames(part: Literal["train", "valid"]) -> dict[str, pd.DataFrame]:
        rows = data.rows(part)
        found = {}
        for j, endpoint in enumerate(endpoints):
            labelled = rows[~np.isnan(data.targets[rows, j])]
            values = data.targets[labelled, j].astype(np.float64)
            if not endpoint.is_classification:  # back from the federation's scaling to source units
                values = endpoint.from_model_scale(data.scaling.unscale(j, values))
                bounds = endpoint.label_range or endpoint.value_range
                if bounds is not None:  # float32 scaling moves a value at a limit (100 uM) just past it
                    values = np.clip(values, *bounds)
            relation = data.relations[labelled, j].astype(int)
            found[endpoint.name] = pd.DataFrame({"smiles": smiles[labelled], "y": values, "relation": relation})
        return found

    side_frames = bundled_side_frames(TrainingData({}, "", bundled=False)) if recipe.side_tasks else None
    return train_model(
        frames("train"),
        recipe,
        valid=frames("valid"),
        side_frames=side_frames,
        exclude=set(smiles[data.folds == TEST_FOLD]),  # the test fold judges it: nothing trains on it
        description=f"{data.name}'s training folds",
        cache_dir=cache_dir,
        progress=progress,
    )


def local_model_outputs(partner_dir: Path, data: PartnerData, model: ADMETModel, cache_dir: Path | None) -> np.ndarray:
    """A local model's outputs on the partner's validation and test folds (NaN elsewhere), on the averaging
    scale (:mod:`fedadmet.federated.local_model`)."""
    from fedadmet.chem.compute import compute_features
    from fedadmet.federated.local_model import local_outputs
    from fedadmet.federated.task import VALID_FOLD

    smiles = pd.read_csv(partner_dir / "compounds.csv", usecols=["smiles"])["smiles"].to_numpy()
    scored = np.flatnonzero(data.folds <= VALID_FOLD)
    features = compute_features(list(smiles[scored]), model.feature_set, cache_dir=cache_dir)
    outputs = np.full(data.targets.shape, np.nan, dtype=np.float64)
    outputs[scored] = local_outputs(model, features, data.tasks, data.scaling)
    return outputs


def after_joining_outputs(data: PartnerData, local: np.ndarray, federated: np.ndarray) -> tuple[np.ndarray, float]:
    """A partner's local outputs averaged with a federated model's (both on the averaging scale, see
    :func:`averaging_scale`) as its predictor averages them after joining, and the local share chosen on
    its validation fold."""
    from fedadmet.federated.local_model import joined

    return joined(data, local, federated)


def averaging_scale(data: PartnerData, raw: np.ndarray) -> np.ndarray:
    """A network's raw outputs (logits, scaled values) for ``data`` on the scale models are averaged on."""
    from fedadmet.federated.local_model import averaging_scale as scale

    return scale(raw, [bool(c) for c in data.is_classification])


def baseline_model(data: PartnerData, federation: FederationConfig, epochs: int) -> MultitaskNet:
    """A model of the federation's architecture trained on ``data`` alone (a partner's, or everyone's
    pooled), keeping its best validation epoch: the local-only and centralised references."""
    from fedadmet.federated.task import train_with_selection

    return train_with_selection(data, federation, epochs)[0]


def federated_model(partner_dir: Path, run: FederationRun, data: PartnerData) -> MultitaskNet:
    """The network a partner kept of ``run`` (shared trunk + its private heads)."""
    from fedadmet.federated.partner_model import SavedModel, load_federated_net

    return load_federated_net(SavedModel(partner_dir, run.name, run.id), data)[0]


def load_partners(partner_dirs: Sequence[Path]) -> list[PartnerData]:
    """The partners' prepared data, as their own machines load it."""
    from fedadmet.federated.task import PartnerData

    return [PartnerData.load(Path(folder)) for folder in partner_dirs]


def pooled(partners: list[PartnerData], shared_heads: bool = False) -> PartnerData:
    """Everyone's data on one machine: the centralised reference, each partner's endpoints kept apart, or
    (``shared_heads``) one head per endpoint name for every partner that measures it."""
    from fedadmet.federated.task import PartnerData

    return PartnerData.pool(partners, shared_heads)


def model_outputs(net: MultitaskNet, data: PartnerData) -> np.ndarray:
    """The network's outputs (model scale) for every compound of ``data``."""
    from fedadmet.federated.task import predict_scaled

    return predict_scaled(net, data.features)


def per_compound_loss(net: MultitaskNet, data: PartnerData, rows: np.ndarray) -> np.ndarray:
    """The training loss of each compound of ``rows`` on its own: lower on compounds a model was trained
    on, which is what a loss-threshold membership-inference attack reads."""
    import torch

    from fedadmet.models.trunk import masked_multitask_loss

    kinds = torch.as_tensor(data.is_classification)
    net.eval()
    with torch.no_grad():
        outputs = net(torch.as_tensor(data.features[rows]))
        targets = torch.as_tensor(data.targets[rows])
        losses = [masked_multitask_loss(outputs[i : i + 1], targets[i : i + 1], kinds) for i in range(len(rows))]
    return np.array([float(loss) for loss in losses])


def kept_model_outputs(
    partner_dir: Path, run: FederationRun, data: PartnerData, gbm_iterations: int | None = None, n_jobs: int = 1
) -> tuple[np.ndarray, list[str]]:
    """The raw outputs (logits, scaled values) for every compound of ``data`` of the model the partner
    keeps of ``run`` (the federated network trained on at the partner, blended with CatBoost over its
    features where that scores better on validation; ``gbm_iterations`` sizes the trees), and the endpoints
    that blend."""
    from fedadmet.federated.partner_model import SavedModel
    from fedadmet.federated.partner_model import kept_model as partner_kept_model
    from fedadmet.models.config import ModelConfig

    config = ModelConfig()
    if gbm_iterations is not None:
        config = config.model_copy(update={"gbm": config.gbm.model_copy(update={"iterations": gbm_iterations})})
    kept = partner_kept_model(SavedModel(Path(partner_dir), run.name, run.id), data, config, n_jobs)
    return kept.outputs(data.features), [c.endpoint for c in kept.choices if c.uses_trees]


def trunk_embedding(net: MultitaskNet, features: np.ndarray) -> np.ndarray:
    """What the shared trunk alone makes of feature rows: all that an adversary holding only the trunk
    (the coordinator, another partner) can compute."""
    import torch

    net.eval()
    with torch.no_grad():
        return net.embed(torch.as_tensor(features, dtype=torch.float32)).numpy()


def endpoint_metrics(data: PartnerData, outputs: np.ndarray, part: Literal["valid", "test"]) -> dict[str, dict]:
    """Per endpoint of ``data`` on one fold: AUC-PR and ROC-AUC (classification) or R² and Spearman
    (exact regression values), with the number of labels scored; endpoints the fold cannot score
    (one class only, fewer than 3 values) are left out."""
    from fedadmet.federated.task import scored_rows
    from fedadmet.models.metrics import score

    found: dict[str, dict] = {}
    for j, task in enumerate(data.tasks):
        rows = scored_rows(data, part, j)
        truth, predicted = data.targets[rows, j], outputs[rows, j]
        if data.is_classification[j] and len(np.unique(truth)) == 2:
            found[task] = {"auc_pr": score("pr-auc", truth, predicted), "roc_auc": score("roc-auc", truth, predicted)}
        elif not data.is_classification[j] and len(rows) >= 3:
            found[task] = {"r2": score("r2", truth, predicted), "spearman": score("spearman", truth, predicted)}
        else:
            continue
        found[task]["n"] = len(rows)
    return found


def test_scores(data: PartnerData, outputs: np.ndarray) -> dict[str, float]:
    """AUC-PR / R² per endpoint of ``outputs`` (one row per compound of ``data``) on its held-out test fold."""
    from fedadmet.federated.task import score_tasks

    return score_tasks(data, outputs, "test")
