"""`fedadmet federate gain`: a partner compares its federated model with a local-only one on its test fold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fedadmet.cli import app
from fedadmet.exceptions import ArtifactError, InputError
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.gain import joining_gain
from fedadmet.federated.partner_model import find_saved_model, saved_models
from fedadmet.federated.task import PartnerData, build_net, predict_scaled, score_tasks
from fedadmet.federated.tasks.molecular import keep_partner_model

runner = CliRunner()
FEDERATION = FederationConfig(rounds=3, trunk={"hidden_sizes": (32, 16)})


def keep_model(folder: Path, run_name: str, run_id: int) -> Path:
    """What the ClientApp keeps after a run; here an untrained network stands in for a federated model
    that did not help, so the local-only model must beat it."""
    data = PartnerData.load(folder)
    net = build_net(data.features.shape[1], data.tasks, FEDERATION)
    return keep_partner_model(folder, run_name, run_id, net, {"valid_score": 0.0, "test_score": 0.0}, FEDERATION)


def test_gain_scores_both_models_per_endpoint_and_writes_a_report(partner_dirs: list[Path], tmp_path: Path) -> None:
    partner = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    keep_model(partner, "consortium", 2)
    latest = keep_model(partner, "consortium", 5)

    result = runner.invoke(app, ["federate", "gain", str(partner)])
    assert result.exit_code == 0, result.output
    assert "run 5 (consortium)" in result.output  # the latest run by default
    report = json.loads((latest / "gain.json").read_text())
    assert (latest / "gain.md").read_text().startswith("# What joining gained: partner0, run 5")
    assert (latest / "gain.png").read_bytes()[:4] == b"\x89PNG"

    data = PartnerData.load(partner)
    untrained = build_net(data.features.shape[1], data.tasks, FEDERATION)
    expected = score_tasks(data, predict_scaled(untrained, data.features), "test")
    rows = {row["endpoint"]: row for row in report["endpoints"]}
    assert set(rows) == set(data.tasks) == {"BBB_Martins", "Lipophilicity_AstraZeneca"}
    assert rows["BBB_Martins"]["metric"] == "AUC-PR" and rows["Lipophilicity_AstraZeneca"]["metric"] == "R²"
    assert all(row["test_compounds"] > 0 for row in rows.values())
    assert {name: row["federated"] for name, row in rows.items()} == pytest.approx(expected)
    assert report["local_epochs"] == FEDERATION.rounds * FEDERATION.local_epochs
    # A trained local model beats the untrained stand-in: the sign says which side gained.
    assert report["mean"]["all"]["gain"] < 0
    assert report["mean"]["all"]["gain"] == pytest.approx(np.mean([r["federated"] - r["local"] for r in rows.values()]))
    lipophilicity = rows["Lipophilicity_AstraZeneca"]  # the only R² endpoint: its own mean, apart from AUC-PR's
    assert report["mean"]["R²"]["gain"] == pytest.approx(lipophilicity["federated"] - lipophilicity["local"])
    assert "| **mean AUC-PR** |" in (latest / "gain.md").read_text() and "mean R²" in result.output


def test_gain_names_what_is_missing(partner_dirs: list[Path], tmp_path: Path) -> None:
    partner = shutil.copytree(partner_dirs[1], tmp_path / "partner1")
    with pytest.raises(InputError, match="holds no federated model"):
        find_saved_model(partner)
    model_folder = keep_model(partner, "consortium", 3)
    with pytest.raises(InputError, match="no model of run 4; expected: one of consortium/3"):
        find_saved_model(partner, 4)
    assert [(m.run_name, m.run_id) for m in saved_models(partner)] == [("consortium", 3)]

    (model_folder / "federation.json").unlink()  # kept by an older fedadmet
    with pytest.raises(ArtifactError, match="did not record the run's settings"):
        joining_gain(partner, find_saved_model(partner, 3))
    result = runner.invoke(app, ["federate", "gain", str(partner), "--run", "9"])
    assert result.exit_code == 2 and "no model of run 9" in result.output


def test_the_latest_run_is_the_one_kept_last_and_a_re_prepared_folder_is_refused(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    partner = shutil.copytree(partner_dirs[1], tmp_path / "partner1")
    keep_model(partner, "consortium", 5)
    latest = keep_model(partner, "another-consortium", 2)  # run ids count per registry: kept last, not highest
    assert (find_saved_model(partner).run_name, find_saved_model(partner).run_id) == ("another-consortium", 2)

    provenance = json.loads((latest / "provenance.json").read_text())
    (latest / "provenance.json").write_text(json.dumps(provenance | {"labels_sha256": "0" * 64}))
    with pytest.raises(ArtifactError, match="was prepared again since run 2"):
        joining_gain(partner, find_saved_model(partner, 2))


def test_two_runs_with_one_number_are_named_not_guessed(partner_dirs: list[Path], tmp_path: Path) -> None:
    partner = shutil.copytree(partner_dirs[1], tmp_path / "partner1")
    keep_model(partner, "consortium", 3)
    keep_model(partner, "other-consortium", 3)  # run ids count per registry
    with pytest.raises(InputError, match="several runs numbered 3; name one: consortium/3 or other-consortium/3"):
        find_saved_model(partner, 3)
    assert find_saved_model(partner, "other-consortium/3").run_name == "other-consortium"
    with pytest.raises(InputError, match="names no run"):
        find_saved_model(partner, "consortium/three")
