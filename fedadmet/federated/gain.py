"""What joining gained, seen from one partner: the model it uses after joining against the best model it
could have built alone, on its own held-out test fold.

Everything here runs inside the partner, on its prepared folder. The local model is the core recipe
(the default model's training workflow) on the partner's training folds, its validation fold the
recipe's validation part; its outputs are given by the caller (the workflow that trains it). The
federated model is the one the partner keeps (:func:`~fedadmet.federated.partner_model.kept_model`); the
model after joining averages the two, the federated model's share chosen on validation
(:mod:`fedadmet.federated.local_model`). All are scored per endpoint (AUC-PR or R² on uncensored values)
on fold 0, which none saw.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedadmet.federated.local_model import averaging_scale, joined
from fedadmet.federated.partner_model import SavedModel, kept_model
from fedadmet.federated.task import PartnerData, score_tasks, scored_rows
from fedadmet.models.config import ModelConfig

GAIN_FILE = "gain.json"
FEW_TEST_COMPOUNDS = 30  # below this, one compound moves a score a lot: the table says so
PLOT_FLOOR = -1.0  # R² far below zero is drawn at this floor, with its value written on the bar


@dataclass(frozen=True)
class EndpointGain:
    endpoint: str
    metric: str  # "AUC-PR" or "R²"
    test_compounds: int  # labelled compounds of this endpoint in the test fold (uncensored for R²)
    local_best: float | None  # None: the test fold cannot score it (one class only, or fewer than 3 values)
    federated: float | None  # the kept federated model alone
    federated_head: str  # which head the kept model uses: "network", or "blend" (with CatBoost over the features)
    joined: float | None  # the model after joining: local best and kept federated model averaged

    @property
    def gain(self) -> float | None:
        return None if self.local_best is None or self.joined is None else self.joined - self.local_best


@dataclass(frozen=True)
class JoiningGain:
    partner: str
    run_name: str
    run_id: int
    local_recipe: str  # what the local model is
    endpoints: list[EndpointGain]
    local_share: float  # the local model's share of the model after joining (1: the federation added nothing)
    record_dp: dict[str, Any] | None = None  # the ε this partner spent under record-level DP (none: off)

    def mean(self, which: str, metric: str | None = None) -> float | None:
        """Mean over the endpoints both models could be scored on, of one metric or of all (the consortium
        benchmark's unit, where one very negative R² can outweigh every AUC-PR)."""
        scored = [getattr(e, which) for e in self.endpoints if e.gain is not None and metric in (None, e.metric)]
        return float(np.mean(scored)) if scored else None

    @property
    def metrics(self) -> list[str]:
        return sorted({e.metric for e in self.endpoints if e.gain is not None})

    def to_json(self) -> dict[str, object]:
        means = {
            label: {which: self.mean(which, metric) for which in ("local_best", "federated", "joined", "gain")}
            for label, metric in [(m, m) for m in self.metrics] + [("all", None)]
        }
        return asdict(self) | {"mean": means}


def joining_gain(
    data_dir: Path,
    model: SavedModel,
    local_best: np.ndarray,
    local_recipe: str,
    config: ModelConfig | None = None,
    n_jobs: int = 1,
) -> JoiningGain:
    """Score on the test fold the local model's outputs ``local_best`` (one row per compound of the folder,
    with its validation and test rows; one column per task, on the averaging scale),
    the kept federated model, and their average with the federated share chosen on validation."""
    data = PartnerData.load(Path(data_dir))
    kept = kept_model(model, data, config, n_jobs)
    federated_outputs = averaging_scale(kept.outputs(data.features), [bool(c) for c in data.is_classification])
    averaged, share = joined(data, local_best, federated_outputs)
    local = score_tasks(data, local_best, "test")
    federated = score_tasks(data, federated_outputs, "test")
    after = score_tasks(data, averaged, "test")
    blended = {choice.endpoint for choice in kept.choices if choice.uses_trees}
    endpoints = [
        EndpointGain(
            endpoint=task,
            metric="AUC-PR" if data.is_classification[j] else "R²",
            test_compounds=len(scored_rows(data, "test", j)),
            local_best=local.get(task),
            federated=federated.get(task),
            federated_head="blend" if task in blended else "network",
            joined=after.get(task),
        )
        for j, task in enumerate(data.tasks)
    ]
    return JoiningGain(data.name, model.run_name, model.run_id, local_recipe, endpoints, share, model.record_dp)


def endpoints_local_wins(folder: Path) -> dict[str, tuple[float, float]]:
    """From the folder's last ``federate gain`` (none: empty), the endpoints whose best local model scored
    above the model after joining on the test fold, with (local best, after joining)."""
    try:
        rows = json.loads((folder / GAIN_FILE).read_text())["endpoints"]
        return {
            str(row["endpoint"]): (float(row["local_best"]), float(used))
            for row in rows
            # a report written before local models were kept compares the federated model, used alone then
            if (used := row.get("joined", row.get("federated"))) is not None
            and row.get("local_best") is not None
            and row["local_best"] > used
        }
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or written by an older fedadmet
        return {}


def format_score(value: float | None, signed: bool = False) -> str:
    """A score to three decimals (a gain with its sign); "–" where it could not be scored."""
    return "–" if value is None else f"{value:+.3f}" if signed else f"{value:.3f}"


def markdown(gain: JoiningGain) -> str:
    lines = [
        f"# What joining gained: {gain.partner}, run {gain.run_id} ({gain.run_name})",
        "",
        f"The model this partner uses after joining (its best local model, {gain.local_recipe}, averaged with the "
        "kept federated model: federated trunk, heads refitted on it, trained on here and blended with CatBoost "
        f"over this partner's features where that scores better on validation; the federated model's share, "
        f"{1 - gain.local_share:g}, chosen on validation) vs the best local model alone, all scored on this "
        "partner's held-out test fold (fold 0).",
        "",
        "| endpoint | metric | test compounds | local best | federated (head) | after joining | gain |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in gain.endpoints:
        few = " (few)" if e.test_compounds < FEW_TEST_COMPOUNDS else ""
        lines.append(
            f"| {e.endpoint} | {e.metric} | {e.test_compounds}{few} | {format_score(e.local_best)} "
            f"| {format_score(e.federated)} ({e.federated_head}) | {format_score(e.joined)} "
            f"| {format_score(e.gain, signed=True)} |"
        )
    for label, metric in mean_rows(gain):
        local, federated = format_score(gain.mean("local_best", metric)), format_score(gain.mean("federated", metric))
        lines.append(
            f"| **{label}** | | | {local} | {federated} | {format_score(gain.mean('joined', metric))} "
            f"| **{format_score(gain.mean('gain', metric), True)}** |"
        )
    lines += ["", *notes(gain)]
    return "\n".join([*lines, "", "![local best, federated and after joining](gain.png)", ""])


def mean_rows(gain: JoiningGain) -> list[tuple[str, str | None]]:
    """The summary rows: a mean per metric, and over all endpoints when there is more than one metric."""
    rows: list[tuple[str, str | None]] = [(f"mean {metric}", metric) for metric in gain.metrics]
    return [*rows, ("mean, all endpoints", None)] if len(rows) > 1 else rows


def notes(gain: JoiningGain) -> list[str]:
    """What a reader must know to trust the table: noisy scores and endpoints that could not be scored."""
    found = []
    few = [e.endpoint for e in gain.endpoints if e.gain is not None and e.test_compounds < FEW_TEST_COMPOUNDS]
    if few:
        found.append(f"Fewer than {FEW_TEST_COMPOUNDS} test compounds, so one compound moves the score a lot: {few}")
    unscored = [e.endpoint for e in gain.endpoints if e.gain is None]
    if unscored:
        found.append(f"Not scored (one class only, or fewer than 3 uncensored values in the test fold): {unscored}")
    if gain.record_dp:
        spent = gain.record_dp
        found.append(
            f"Record-level DP: this partner spent ε {spent['epsilon']:.2f} at δ {spent['delta']:g} over "
            f"{spent['rounds']} rounds (covers the trunk it sent and the heads as trained in rounds; the refitted "
            "heads, this partner's own copy of the network trained on, its trees and its local model were fitted here "
            "without DP)"
        )
    return found


def write_gain_report(gain: JoiningGain, folder: Path) -> list[Path]:
    """``gain.json``, ``gain.md`` and a bar chart ``gain.png`` beside the model they describe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [folder / GAIN_FILE, folder / "gain.md", folder / "gain.png"]
    paths[0].write_text(json.dumps(gain.to_json(), indent=2))
    paths[1].write_text(markdown(gain))
    scored = [e for e in gain.endpoints if e.gain is not None]
    positions = np.arange(len(scored))
    figure, axis = plt.subplots(figsize=(max(4.0, 1.1 * len(scored) + 1.5), 3.2))
    bars = (
        (-0.27, "local_best", "local best", "#8c8c8c"),
        (0.0, "federated", "federated", "#4c72b0"),
        (0.27, "joined", "after joining", "#55a868"),
    )
    for offset, which, label, colour in bars:
        values = np.array([np.nan if getattr(e, which) is None else getattr(e, which) for e in scored], dtype=float)
        axis.bar(positions + offset, np.maximum(values, PLOT_FLOOR), 0.27, label=label, color=colour)
        for x, value in zip(positions + offset, values, strict=True):
            if value < PLOT_FLOOR:  # off the scale: drawn at the floor, its value written on it
                axis.text(x, PLOT_FLOOR, f"{value:.3g}", rotation=90, ha="center", va="bottom", fontsize=6)
    lowest = min((v for e in scored for v in (e.local_best, e.federated, e.joined) if v is not None), default=0.0)
    axis.set_ylim(bottom=PLOT_FLOOR if lowest < PLOT_FLOOR else None)
    axis.set_xticks(positions, [f"{e.endpoint}\n({e.metric})" for e in scored], fontsize=7)
    axis.axhline(0, color="black", linewidth=0.6)
    axis.set_ylabel("test-fold score (AUC-PR or R²)")
    axis.set_title(f"{gain.partner}: run {gain.run_id} ({gain.run_name})", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(paths[2], dpi=90)
    plt.close(figure)
    return paths
