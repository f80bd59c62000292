"""`fedadmet campaign ...` and `fedadmet export` from the command line, one full loop."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedadmet.cli import app
from fedadmet.config import get_settings

pytestmark = pytest.mark.slow  # featurises a small pool and fits a GP
runner = CliRunner()


def test_create_propose_ingest_status_report_and_export(
    tmp_path: Path, pool_file: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDADMET_MODEL_DIR", str(tiny_model_dir))
    get_settings.cache_clear()
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"objective": {"terms": [{"column": "pIC50", "low": 4, "high": 8}]}}))
    created = runner.invoke(
        app, ["campaign", "create", "cli-run", "--pool", str(pool_file), "--spec", str(spec), "--batch-size", "5"]
    )
    assert created.exit_code == 0, created.output
    assert "24 molecules" in created.output

    proposed = runner.invoke(app, ["campaign", "propose", "cli-run"])
    assert proposed.exit_code == 0, proposed.output
    order = pd.read_csv(get_settings().campaigns_dir / "cli-run" / "orders" / "round-001.csv")
    assert len(order) == 5

    results = tmp_path / "plate.csv"
    rows = [{"compound_id": c, "endpoint": "pIC50", "value": 6.0} for c in order["compound_id"]]
    pd.DataFrame([*rows, {"compound_id": "X9", "endpoint": "pIC50", "value": 1}]).to_csv(results, index=False)
    ingested = runner.invoke(app, ["campaign", "ingest", "cli-run", str(results)])
    assert ingested.exit_code == 0, ingested.output
    assert "5 of 6 rows stored" in ingested.output and "row 6 rejected" in ingested.output

    status = runner.invoke(app, ["campaign", "status", "cli-run", "--json"])
    assert json.loads(status.output)["measured_compounds"] == 5
    report = runner.invoke(app, ["campaign", "report", "cli-run", "-o", str(tmp_path / "r.md")])
    assert report.exit_code == 0 and "| 1 | greedy | 5 | 5 |" in (tmp_path / "r.md").read_text()

    exported = runner.invoke(app, ["export", "cli-run", "-o", str(tmp_path / "export")])
    assert exported.exit_code == 0, exported.output
    assert {"croissant.json", "datapackage.json", "ro-crate-metadata.json", "measurements.csv"} <= {
        p.name for p in (tmp_path / "export").iterdir()
    }
    missing = runner.invoke(app, ["campaign", "propose", "no-such"])
    assert missing.exit_code == 2 and "no campaign" in missing.output
