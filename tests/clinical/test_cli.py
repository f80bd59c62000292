"""`fedadmet clinical ...` end to end on small data."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedadmet.cli import app
from fedadmet.config import get_settings
from fedadmet.workflows import clinical

runner = CliRunner()


@pytest.mark.slow
def test_generate_train_evaluate_and_federate(tmp_path: Path) -> None:
    consortium = tmp_path / "consortium"
    result = runner.invoke(
        app,
        [
            "clinical",
            "generate",
            "-o",
            str(consortium),
            "--patients",
            "900",
            "--hospitals",
            "2",
            "--no-molecular-effect",
        ],
    )
    assert result.exit_code == 0, result.output
    hospitals = sorted(consortium.iterdir())
    assert [h.name for h in hospitals] == ["hospital_a", "hospital_b"]

    report = tmp_path / "report"
    cdm_options = ["--cdm", str(hospitals[0])]
    result = runner.invoke(
        app, ["clinical", "train", "--study", "nephrotoxicity", *cdm_options, "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert (report / "evaluation.png").stat().st_size > 10_000
    assert "AUROC" in (report / "report.md").read_text()

    external = tmp_path / "external"
    result = runner.invoke(
        app,
        [
            "clinical",
            "evaluate",
            "--model",
            str(report / "model.json"),
            "--cdm",
            str(hospitals[1]),
            "--report",
            str(external),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (external / "report.md").is_file()
    # Both reports are kept in the home folder, where the web app's Patients page finds them.
    kept = {summary.name: summary for summary in clinical.list_clinical_reports(get_settings().home)}
    assert set(kept) == {"report", "external"}
    assert kept["external"].title.startswith("External validation")
    trained = clinical.clinical_report(get_settings().home, "report")
    assert trained.top_covariates and trained.metrics.auroc_low <= trained.metrics.auroc <= trained.metrics.auroc_high

    scores = tmp_path / "federated.json"
    hospital_options = [option for h in hospitals for option in ("--hospital", str(h))]
    result = runner.invoke(
        app,
        [
            "clinical",
            "federate",
            "--study",
            "nephrotoxicity",
            *hospital_options,
            "--rounds",
            "3",
            "--no-secagg",  # two hospitals: SecAgg+ needs three
            "--record-dp",  # few noisy steps with a small clip: tiny test cohorts, noise within SecAgg+'s range
            "--target-epsilon",
            "4",
            "--local-steps",
            "1",
            "--clip",
            "0.5",
            "-o",
            str(scores),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(scores.read_text())
    assert set(summary["hospitals"]) == {"hospital_a", "hospital_b"}
    assert summary["status"] == "completed" and summary["secagg"] is False and summary["run_id"] >= 1
    assert set(summary["record_level_epsilon"]) == {"hospital_a", "hospital_b"}
    assert all(3.0 < epsilon <= 4.0 for epsilon in summary["record_level_epsilon"].values())


def test_an_unknown_study_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["clinical", "train", "--study", "alopecia", "--report", str(tmp_path)])
    assert result.exit_code == 2
    assert "alopecia" in result.output


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["clinical", "extract", "--cdm", str(tmp_path / "none.duckdb"), "-o", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 2
    assert "no CDM database" in result.output
