"""Design runs with the bundled model: reproducible trails, resumption after a crash, the CLI."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fedadmet.cli import app
from fedadmet.design.agent import Generation
from fedadmet.design.objective import Objective
from fedadmet.workflows import design
from tests.design.conftest import ASTEMIZOLE, TERFENADINE

BUDGET = 26  # two starting molecules and three generations of eight


def trail(run: design.DesignRunView) -> list[tuple]:
    return [
        (c.generation, c.smiles, tuple(c.parents), c.operator, c.status, c.reason, c.score, c.score_low, c.score_high)
        for generation in run.generations
        for c in generation.candidates
    ]


@pytest.mark.slow
def test_one_seed_one_trail_and_every_candidate_says_why(objective: Objective) -> None:
    first = design.run_design([TERFENADINE, ASTEMIZOLE], objective, budget=BUDGET, seed=7)
    second = design.run_design([TERFENADINE, ASTEMIZOLE], objective, budget=BUDGET, seed=7)
    assert first.id != second.id
    assert first.status == "completed" and first.budget_used == BUDGET
    numbers = [g.number for g in first.generations]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 4
    assert trail(first) == trail(second)
    other = design.run_design([TERFENADINE, ASTEMIZOLE], objective, budget=BUDGET, seed=8)
    assert trail(other) != trail(first)
    candidates = [c for g in first.generations[1:] for c in g.candidates]
    assert {c.status for c in candidates} <= {"selected", "kept", "dropped"}
    assert all(c.reason for c in candidates)
    scored = [c for c in candidates if c.status != "dropped"]
    assert scored and all(c.score_low <= c.score_high for c in scored)
    assert all("hERG" in c.details["values"] for c in scored)
    table = design.results_table(first)
    assert table["score"].is_monotonic_decreasing and {"smiles", "hERG", "score_low"} <= set(table.columns)


@pytest.mark.slow
def test_a_crashed_run_resumes_to_the_trail_of_an_uninterrupted_one(
    objective: Objective, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninterrupted = design.run_design([TERFENADINE], objective, budget=BUDGET - 1, seed=3)
    record = design._RegistryRecorder.record

    def crash_after_generation_one(self, generation: Generation) -> None:
        if generation.number == 2:
            raise RuntimeError("power cut")
        record(self, generation)

    monkeypatch.setattr(design._RegistryRecorder, "record", crash_after_generation_one)
    with pytest.raises(RuntimeError, match="power cut"):
        design.run_design([TERFENADINE], objective, budget=BUDGET - 1, seed=3)
    crashed = design.list_design_runs(1)[0]
    assert crashed.status == "failed" and "power cut" in crashed.message
    assert len(design.show_design(crashed.id).generations) == 2
    monkeypatch.setattr(design._RegistryRecorder, "record", record)
    resumed = design.resume_design(crashed.id)
    assert resumed.status == "completed"
    assert trail(resumed) == trail(uninterrupted)


def test_cli_runs_shows_and_writes_a_campaign_csv(tmp_path: Path, objective_file: Path) -> None:
    seeds = tmp_path / "seeds.csv"
    pd.DataFrame({"smiles": [TERFENADINE]}).to_csv(seeds, index=False)
    out = tmp_path / "designed.csv"
    runner = CliRunner()
    args = ["design", "run", "--start", str(seeds), "--objective", str(objective_file), "--budget", "9", "-o", str(out)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "9 of 9 molecules profiled" in result.output
    designed = pd.read_csv(out)
    assert len(designed) >= 1 and {"smiles", "score"} <= set(designed.columns)
    shown = runner.invoke(app, ["design", "show", "1", "--trail"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "starting molecule" in shown.output
    missing = runner.invoke(app, ["design", "show", "99"])
    assert missing.exit_code == 2 and "no design run 99" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[[goal]]\nendpoint = "hERG"\ndirection = "down"\nlow = 0\nhigh = 1\n')
    refused = runner.invoke(app, ["design", "run", "--start", str(seeds), "--objective", str(bad)])
    assert refused.exit_code == 2 and "goal.0.direction" in refused.output


def test_cli_score_answers_reinvent_external_process_json(objective_file: Path) -> None:
    import json

    result = CliRunner().invoke(
        app, ["design", "score", "--objective", str(objective_file)], input="CCO\nC1CC(\nc1ccccc1O\n"
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["version"] == 1
    predictions = answer["payload"]["predictions"]
    assert len(predictions) == 3 and predictions[1] == 0 and 0 < predictions[0] <= 1


@pytest.mark.slow
def test_reinvent_external_process_reads_the_scores_as_it_runs_a_scorer(objective_file: Path, tmp_path: Path) -> None:
    """As REINVENT 4's ExternalProcess component does (reinvent_plugins/components/comp_external_process.py):
    the command with the SMILES joined by newlines on stdin (no final newline), ``check=True``, the whole of
    stdout read as JSON and ``payload[property]`` taken as one score per SMILES (property "predictions")."""
    import json
    import os
    import subprocess
    import sys

    import fedadmet

    smilies = ["CCO", "C1CC(", "c1ccccc1O"]
    command = [sys.executable, "-c", "from fedadmet.cli import app; app()", "design", "score"]
    result = subprocess.run(
        [*command, "--objective", str(objective_file)],
        input="\n".join(smilies),
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "FEDADMET_HOME": str(tmp_path / "home"),
            "PYTHONPATH": str(Path(fedadmet.__file__).parents[1]),
        },
    )
    scores = json.loads(result.stdout)["payload"]["predictions"]  # nothing but the JSON on stdout
    assert len(scores) == len(smilies) and scores[1] == 0 and all(0 < scores[i] <= 1 for i in (0, 2))


def test_a_run_is_refused_before_it_is_recorded(objective: Objective) -> None:
    from fedadmet.design.objective import parse_objective
    from fedadmet.exceptions import InputError

    with pytest.raises(InputError, match="C1CC"):
        design.run_design([TERFENADINE, "C1CC("], objective, budget=5)
    potency = parse_objective({"goal": [{"endpoint": "Potency", "direction": "higher", "low": 5, "high": 7}]})
    with pytest.raises(InputError, match="does not predict Potency"):
        design.run_design([TERFENADINE], potency, budget=5)
    with pytest.raises(InputError, match="budget"):
        design.run_design([TERFENADINE], objective, budget=0)
    assert design.list_design_runs() == []
