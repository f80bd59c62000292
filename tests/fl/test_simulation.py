"""Flower simulation end to end: SecAgg+ rounds, registry records, a new run per call, Ctrl-C and an
explicit resume, failures that end a run with their reason, and a partner whose update is unusable
being excluded with a logged reason."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from fedadmet.exceptions import InputError
from fedadmet.federated.checkpoints import Checkpoint
from fedadmet.federated.config import FederationConfig, PrivacyConfig
from fedadmet.federated.coordinator import RunInterruptedError, StoppableGrid, secagg_workflow
from fedadmet.federated.partner_model import find_saved_model
from fedadmet.federated.privacy import gaussian_epsilon
from fedadmet.federated.simulation import _stop_on_ctrl_c
from fedadmet.federated.tasks.molecular import MolecularTask
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.workflows.federation import RunSettings, completed_run, open_run, simulate
from fedadmet.workflows.views import privacy_text, run_view

pytestmark = pytest.mark.slow
SMALL = {"hidden_sizes": (32, 16)}


def settings(tmp_path: Path, rounds: int, **federation: object) -> RunSettings:
    return RunSettings(
        run_name="test-run",
        n_partners=3,
        federation=FederationConfig(rounds=rounds, trunk=SMALL, **federation),
        checkpoint_dir=tmp_path / "checkpoints",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
    )


def test_secagg_workflow_follows_the_operators_federation_config(tmp_path: Path) -> None:
    federation = FederationConfig(min_partners=2, secagg_stage_timeout_s=42.0)
    run_config = {
        "run-name": "r",
        "num-partners": 3,
        "checkpoint-dir": str(tmp_path),
        "federation": federation.model_dump_json(),
    }
    workflow = secagg_workflow(RunSettings.from_run_config(run_config))
    assert workflow is not None
    assert workflow.timeout == 42.0 and workflow.reconstruction_threshold == 3
    assert secagg_workflow(settings(tmp_path, rounds=1, secagg=False)) is None


def test_secagg_simulation_records_rounds_and_every_run_is_new(partner_dirs: list[Path], tmp_path: Path) -> None:
    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    run = simulate(partners, settings(tmp_path, rounds=2))
    assert run.status == "completed", run.error
    assert run.secagg
    assert [r.round for r in run.rounds] == [1, 2]
    assert all(r.partners == ["partner0", "partner1", "partner2"] for r in run.rounds)
    assert all(r.bytes_sent > 0 for r in run.rounds)
    scores = run.rounds[-1].metrics["evaluate"]
    assert set(scores) == {"partner0", "partner1", "partner2"}
    assert all(np.isfinite(m["valid_score"]) for m in scores.values())
    # Partners keep their own best model (trunk + private heads) of this run in their folder.
    assert all(
        (p / "federated_model" / "test-run" / f"run-{run.id}" / "weights.safetensors").is_file() for p in partners
    )
    # ... knowing which aggregated round its trunk came from (a failed run's model would say 0)
    assert all(find_saved_model(p, f"test-run/{run.id}").provenance["trunk_round"] in (1, 2) for p in partners)
    # ... with its heads refitted on the trunk it kept (the shared validation score is the model before the
    # refit, which never lowers it).
    for p in partners:
        kept = json.loads((find_saved_model(p, f"test-run/{run.id}").folder / "scores.json").read_text())
        assert kept["heads_before_refit"] == pytest.approx(kept["valid_score"])
        assert kept["kept_valid_score"] >= kept["heads_before_refit"]

    # The same command again is a new run with its own checkpoints, not a silent resume of the first.
    private = PrivacyConfig(enabled=True, noise_multiplier=1.0)
    again = simulate(partners, settings(tmp_path, rounds=1, privacy=private))
    assert again.id != run.id and again.status == "completed", again.error
    assert [r.round for r in again.rounds] == [1]
    with open_registry(f"sqlite:///{tmp_path / 'registry.db'}").begin() as session:
        versions = repository.list_versions(session)
    assert [(v.lineage["run_id"], v.lineage["rounds"]) for v in versions] == [(again.id, 1), (run.id, 2)]
    # Each round of a private run records the budget spent so far; the version publishes the last one.
    assert [r.epsilon for r in run.rounds] == [None, None]
    assert again.rounds[0].epsilon == versions[0].metrics["epsilon"] == gaussian_epsilon(1.0, 1, private.delta)
    assert versions[0].kind == "federated" and versions[0].lineage["partners"] == ["partner0", "partner1", "partner2"]
    # The run as the CLI and the API show it: the published budget, every partner's scores for the operator.
    shown = run_view(again)
    assert shown.epsilon == versions[0].metrics["epsilon"] and privacy_text(shown, brief=True).startswith("ε ")
    assert set(shown.rounds[0].metrics["evaluate"]) == {"partner0", "partner1", "partner2"}
    # A published artifact is a read-only copy named by its content, so no later run can change it.
    for version in versions:
        artifact = Path(version.artifact_uri)
        assert artifact.name == f"trunk-{version.data_hashes['trunk_sha256']}.safetensors"
        assert hashlib.sha256(artifact.read_bytes()).hexdigest() == version.data_hashes["trunk_sha256"]
        assert not artifact.stat().st_mode & 0o222
    with pytest.raises(InputError, match="completed already"):
        simulate(partners, settings(tmp_path, rounds=3).model_copy(update={"run_id": run.id}))
    # A stopped experiment finds the completed run of the same name and settings, and only where every
    # partner still holds its model.
    registry, first = f"sqlite:///{tmp_path / 'registry.db'}", settings(tmp_path, rounds=2)
    assert completed_run(registry, "test-run", first.federation, partners).id == run.id
    assert completed_run(registry, "test-run", settings(tmp_path, rounds=4).federation, partners) is None
    assert completed_run(registry, "other-name", first.federation, partners) is None
    shutil.rmtree(find_saved_model(partners[1], f"test-run/{run.id}").folder)
    assert completed_run(registry, "test-run", first.federation, partners) is None


def test_ctrl_c_stops_the_run_which_resumes_only_as_the_same_federation(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]

    def interrupt_after_first_round() -> None:
        while not list((tmp_path / "checkpoints").glob("run-*/checkpoint.json")):
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)  # what a terminal's Ctrl-C does

    threading.Thread(target=interrupt_after_first_round, daemon=True).start()
    started = time.time()
    run = simulate(partners, settings(tmp_path, rounds=50, secagg=False), require_secagg=False)
    assert run.status == "interrupted" and time.time() - started < 120
    done = len(run.rounds)
    assert done >= 1 and run.error == f"interrupted at round {done + 1}"

    resume = settings(tmp_path, rounds=done + 1, secagg=False).model_copy(update={"run_id": run.id})
    with pytest.raises(InputError, match="strategy"):
        simulate(
            partners,
            resume.model_copy(update={"federation": resume.federation.model_copy(update={"strategy": "fedprox"})}),
        )
    resumed = simulate(partners, resume, require_secagg=False)
    assert (resumed.id, resumed.status) == (run.id, "completed"), resumed.error
    assert [r.round for r in resumed.rounds] == list(range(1, done + 2))


def test_resume_refuses_other_partners_or_key(tmp_path: Path) -> None:
    base = settings(tmp_path, rounds=2).model_copy(update={"partners": ["a", "b", "c"], "key_id": "k1"})
    opened = open_run(base)
    start = MolecularTask().initial_parameters(opened.federation.model_dump(mode="json"))
    Checkpoint(opened.run_folder, opened.identity()).save(1, start)
    assert open_run(opened).run_id == opened.run_id  # the same federation may go on
    longer = opened.federation.model_copy(update={"rounds": 5, "min_partners": 3})
    assert open_run(opened.model_copy(update={"federation": longer})).run_id == opened.run_id  # more rounds: fine
    with_dp = opened.federation.model_copy(update={"privacy": PrivacyConfig(enabled=True, noise_multiplier=2.0)})
    with pytest.raises(InputError, match="setting privacy"):  # an epsilon would cover rounds without noise
        open_run(opened.model_copy(update={"federation": with_dp}))
    with pytest.raises(InputError, match="partners"):
        open_run(opened.model_copy(update={"partners": ["a", "b", "d"]}))
    with pytest.raises(InputError, match="key_id"):
        open_run(opened.model_copy(update={"key_id": "k2"}))
    with pytest.raises(InputError, match="no federation run 99"):
        open_run(opened.model_copy(update={"run_id": 99}))
    # While a process runs it, no other may carry it on (two would publish two versions of one run).
    with Checkpoint(opened.run_folder).running(), pytest.raises(InputError, match="running now in another process"):
        open_run(opened)
    assert not Checkpoint(opened.run_folder).in_use()
    # Elsewhere than the checkpoint folder it began in, the run would start again unchecked.
    moved = opened.model_copy(update={"checkpoint_dir": tmp_path / "elsewhere", "partners": ["a", "b", "d"]})
    with pytest.raises(InputError, match="give the --checkpoint-dir the run was started with"):
        open_run(moved)
    # A run that failed before its first checkpoint goes on only with the partners and key it began with.
    early = open_run(base)
    assert Checkpoint(early.run_folder).state() is None
    with pytest.raises(InputError, match="partners"):
        open_run(early.model_copy(update={"partners": ["a", "b", "d"]}))
    assert open_run(early).run_id == early.run_id
    # A new run whose folder a replaced registry left behind starts clean; the old folder is kept aside.
    (tmp_path / "checkpoints" / "run-3").mkdir()
    (tmp_path / "checkpoints" / "run-3" / "checkpoint.json").write_text('{"round": 7}')
    fresh = open_run(base)
    assert fresh.run_id == 3 and [p.name for p in fresh.run_folder.iterdir()] == ["identity.json"]
    assert len(list((tmp_path / "checkpoints").glob("run-3.orphaned-*"))) == 1


def test_failing_bookkeeping_fails_the_run_with_its_reason(
    partner_dirs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error in a round's bookkeeping ends the run (recorded as failed, with the reason) instead of hanging."""
    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]

    def broken(*args: object, **kwargs: object) -> None:
        raise IntegrityError("INSERT INTO federation_rounds", {}, Exception("FOREIGN KEY constraint failed"))

    monkeypatch.setattr(repository, "record_round", broken)
    run = simulate(partners, settings(tmp_path, rounds=3, secagg=False), require_secagg=False)
    assert run.status == "failed" and "IntegrityError" in run.error and "FOREIGN KEY" in run.error


def test_partner_sets_that_cannot_federate_are_refused_up_front(partner_dirs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--no-secagg"):
        simulate(partner_dirs[:2], settings(tmp_path, rounds=1))
    with pytest.raises(InputError, match=r"run name '\.\./\.\./outside' is or holds a path"):
        simulate(partner_dirs, settings(tmp_path, rounds=1).model_copy(update={"run_name": "../../outside"}))
    with pytest.raises(InputError, match="the same partner folder is given more than once"):
        simulate([partner_dirs[0], partner_dirs[0] / ".", partner_dirs[1]], settings(tmp_path, rounds=1))
    twin = shutil.copytree(partner_dirs[0], tmp_path / "twin")
    with pytest.raises(InputError, match=r"same name \(letter case aside\)"):
        simulate([partner_dirs[0], twin, partner_dirs[1]], settings(tmp_path, rounds=1))
    shouting = shutil.copytree(partner_dirs[0], tmp_path / "shouting")  # "PARTNER0" reads as partner0 to people
    manifest = json.loads((shouting / "manifest.json").read_text())
    (shouting / "manifest.json").write_text(json.dumps(manifest | {"partner": manifest["partner"].upper()}))
    with pytest.raises(InputError, match=r"letter case aside.*PARTNER0.*partner0"):
        simulate([partner_dirs[0], shouting, partner_dirs[1]], settings(tmp_path, rounds=1))
    idle = shutil.copytree(partner_dirs[2], tmp_path / "idle")
    manifest = json.loads((idle / "manifest.json").read_text())
    manifest["tasks"] = [task | {"trainable": False} for task in manifest["tasks"]]
    (idle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=f"without a task that meets the quorum.*{manifest['partner']}"):
        simulate([*partner_dirs[:2], idle], settings(tmp_path, rounds=1))
    with open_registry(f"sqlite:///{tmp_path / 'registry.db'}").begin() as session:
        assert repository.list_runs(session) == []


def test_partner_with_unusable_update_is_excluded(
    partner_dirs: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A partner whose training diverges to NaN is excluded with a logged reason; the others go on."""
    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    poison(partners[2])
    with caplog.at_level(logging.WARNING, logger="fedadmet.federation"):
        run = simulate(partners, settings(tmp_path, rounds=1, secagg=False), require_secagg=False)
    assert run.status == "completed", run.error
    assert run.rounds[0].partners == ["partner0", "partner1"]
    assert run.rounds[0].excluded, "the NaN partner must be listed as excluded"
    assert any("NaN" in reason for reason in run.rounds[0].excluded.values())
    assert any("excluded" in record.getMessage() for record in caplog.records)


def test_a_round_with_fewer_usable_updates_than_the_minimum_is_recorded_not_aggregated(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    poison(partners[2])  # two usable updates: each partner could read the other's from the new trunk
    run = simulate(partners, settings(tmp_path, rounds=1, secagg=False, min_partners=3), require_secagg=False)
    assert run.status == "failed" and "without a single aggregated round" in run.error
    (only,) = run.rounds
    assert only.partners == [] and list(only.excluded) == ["partner2"]  # who failed, and why, stays on record
    assert set(only.metrics["evaluate"]) == {"partner0", "partner1"}  # evaluated on the unchanged trunk
    # The failure that kept the run from aggregating is on record as a typed record, for partner2 to see.
    assert [(f["partner"], f["stage"]) for f in run.partner_failures] == [("partner2", "train")]


def poison(folder: Path) -> Path:
    """A partner whose own pipeline produced NaN features; its manifest re-signed to pass the loader."""
    from fedadmet.federated.prepare import _sha256

    features = np.load(folder / "features.npy")
    features[:, :5] = np.nan
    np.save(folder / "features.npy", features)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["features.npy"] = _sha256(folder / "features.npy")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_ctrl_c_also_ends_the_wait_for_partners_to_connect() -> None:
    class Nodes:  # the one part of a Flower grid that the wait for partners uses
        def get_node_ids(self) -> list[int]:
            return [1]

    stop = threading.Event()
    grid = StoppableGrid(Nodes(), stop)  # type: ignore[arg-type]
    assert list(grid.get_node_ids()) == [1]
    stop.set()
    with pytest.raises(RunInterruptedError):
        grid.get_node_ids()


def test_helper_threads_ended_by_a_stop_print_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flower's node-watching thread ends on the stopped grid's error: that is the stop, not a crash."""
    reported: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_value))  # prints tracebacks

    def fail_with(error: Exception) -> None:
        raise error

    with _stop_on_ctrl_c(threading.Event()):
        for error in (RunInterruptedError("stopped by the operator"), ValueError("a real failure")):
            thread = threading.Thread(target=fail_with, args=(error,))
            thread.start()
            thread.join()
    assert [type(error) for error in reported] == [ValueError]  # other failures still reported


def test_a_resume_takes_the_runs_own_settings(partner_dirs: list[Path], tmp_path: Path) -> None:
    """The README's `simulate prepared/* --resume 3` failed for a FedAdam run: the command rebuilt FedAvg
    settings and the resume was refused because they differed from the run's."""
    from typer.testing import CliRunner

    from fedadmet.cli import app
    from fedadmet.config import get_settings

    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    started = open_run(
        RunSettings(
            run_name="adam",
            n_partners=3,
            federation=FederationConfig(rounds=1, strategy="fedadam", trunk=SMALL),
            checkpoint_dir=get_settings().home / "federation",
            partners=["partner0", "partner1", "partner2"],
            key_id=MolecularTask().check_partners(partners).key_id,
            task="molecular",
        )
    )  # a run whose coordinator stopped before its first round
    command = ["federate", "simulate", *map(str, partners), "--resume", str(started.run_id)]
    result = CliRunner().invoke(app, command, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    with open_registry(get_settings().registry_url).begin() as session:
        run = repository.get_run(session, started.run_id)  # type: ignore[arg-type]
        assert run is not None and run.status == "completed" and run.config["strategy"] == "fedadam"
        assert run.config["trunk"]["hidden_sizes"] == [32, 16]
