"""What joining gained, seen from one partner: its federated model against the model it could have
trained alone, on its own held-out test fold.

Everything here runs inside the partner, on its prepared folder: the local-only model is trained
with the same architecture, hyper-parameters and epoch budget as the run (the federation's rounds x
local epochs, best validation epoch kept, as the federation keeps its best round), and both models
are scored per endpoint (AUC-PR or R² on uncensored values) on fold 0, which neither saw.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fedadmet.federated.partner_model import SavedModel, load_federated_net
from fedadmet.federated.task import PartnerData, predict_scaled, score_tasks, scored_rows, train_with_selection

GAIN_FILE = "gain.json"
FEW_TEST_COMPOUNDS = 30  # below this, one compound moves a score a lot: the table says so
PLOT_FLOOR = -1.0  # R² far below zero is drawn at this floor, with its value written on the bar


@dataclass(frozen=True)
class EndpointGain:
    endpoint: str
    metric: str  # "AUC-PR" or "R²"
    test_compounds: int  # labelled compounds of this endpoint in the test fold (uncensored for R²)
    local: float | None  # None: the test fold cannot score it (one class only, or fewer than 3 values)
    federated: float | None

    @property
    def gain(self) -> float | None:
        return None if self.local is None or self.federated is None else self.federated - self.local


@dataclass(frozen=True)
class JoiningGain:
    partner: str
    run_name: str
    run_id: int
    local_epochs: int
    endpoints: list[EndpointGain]

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
            label: {which: self.mean(which, metric) for which in ("local", "federated", "gain")}
            for label, metric in [(m, m) for m in self.metrics] + [("all", None)]
        }
        return asdict(self) | {"mean": means}


def joining_gain(data_dir: Path, model: SavedModel, progress: bool = False) -> JoiningGain:
    """Train the local-only model and score both on the test fold (seconds to minutes on a CPU)."""
    data = PartnerData.load(Path(data_dir))
    federated_net, federation = load_federated_net(model, data)
    epochs = federation.rounds * federation.local_epochs
    local_net, _ = train_with_selection(data, federation, epochs, progress)
    local = score_tasks(data, predict_scaled(local_net, data.features), "test")
    federated = score_tasks(data, predict_scaled(federated_net, data.features), "test")
    endpoints = [
        EndpointGain(
            endpoint=task,
            metric="AUC-PR" if data.is_classification[j] else "R²",
            test_compounds=len(scored_rows(data, "test", j)),
            local=local.get(task),
            federated=federated.get(task),
        )
        for j, task in enumerate(data.tasks)
    ]
    return JoiningGain(data.name, model.run_name, model.run_id, epochs, endpoints)


def format_score(value: float | None, signed: bool = False) -> str:
    """A score to three decimals (a gain with its sign); "–" where it could not be scored."""
    return "–" if value is None else f"{value:+.3f}" if signed else f"{value:.3f}"


def markdown(gain: JoiningGain) -> str:
    lines = [
        f"# What joining gained: {gain.partner}, run {gain.run_id} ({gain.run_name})",
        "",
        f"Federated model vs a local-only model of the same architecture ({gain.local_epochs} epochs, best validation "
        "epoch kept), both scored on this partner's held-out test fold (fold 0).",
        "",
        "| endpoint | metric | test compounds | local only | federated | gain |",
        "|---|---|---|---|---|---|",
    ]
    for e in gain.endpoints:
        few = " (few)" if e.test_compounds < FEW_TEST_COMPOUNDS else ""
        lines.append(
            f"| {e.endpoint} | {e.metric} | {e.test_compounds}{few} | {format_score(e.local)} "
            f"| {format_score(e.federated)} | {format_score(e.gain, signed=True)} |"
        )
    for label, metric in mean_rows(gain):
        local, federated = format_score(gain.mean("local", metric)), format_score(gain.mean("federated", metric))
        lines.append(
            f"| **{label}** | | | {local} | {federated} | **{format_score(gain.mean('gain', metric), True)}** |"
        )
    lines += ["", *notes(gain)]
    return "\n".join([*lines, "", "![local only vs federated](gain.png)", ""])


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
    for offset, which, label, colour in (
        (-0.2, "local", "local only", "#8c8c8c"),
        (0.2, "federated", "federated", "#4c72b0"),
    ):
        values = np.array([getattr(e, which) for e in scored], dtype=float)
        axis.bar(positions + offset, np.maximum(values, PLOT_FLOOR), 0.4, label=label, color=colour)
        for x, value in zip(positions + offset, values, strict=True):
            if value < PLOT_FLOOR:  # off the scale: drawn at the floor, its value written on it
                axis.text(x, PLOT_FLOOR, f"{value:.3g}", rotation=90, ha="center", va="bottom", fontsize=6)
    axis.set_ylim(bottom=PLOT_FLOOR if any(e.local < PLOT_FLOOR or e.federated < PLOT_FLOOR for e in scored) else None)
    axis.set_xticks(positions, [f"{e.endpoint}\n({e.metric})" for e in scored], fontsize=7)
    axis.axhline(0, color="black", linewidth=0.6)
    axis.set_ylabel("test-fold score (AUC-PR or R²)")
    axis.set_title(f"{gain.partner}: run {gain.run_id} ({gain.run_name})", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(paths[2], dpi=90)
    plt.close(figure)
    return paths
