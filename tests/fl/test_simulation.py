"""Flower simulation end to end: SecAgg+ rounds, registry records, resume after a coordinator restart,
and a partner whose update is unusable being excluded with a logged reason."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from fedadmet.federated.config import FederationConfig
from fedadmet.federated.server_app import RunSettings, secagg_workflow
from fedadmet.federated.simulation import simulate
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry

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
    assert (workflow.timeout, workflow.num_shares, workflow.reconstruction_threshold) == (42.0, 3, 2)
    assert secagg_workflow(settings(tmp_path, rounds=1, secagg=False)) is None


def test_secagg_simulation_records_rounds_and_resumes(partner_dirs: list[Path], tmp_path: Path) -> None:
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
    # Partners keep their own best model (trunk + private heads) in their folder.
    assert all((p / "federated_model" / "test-run" / "weights.safetensors").is_file() for p in partners)

    # A coordinator restarted with more rounds resumes after the last checkpoint instead of starting over.
    resumed = simulate(partners, settings(tmp_path, rounds=3))
    assert resumed.id == run.id
    assert [r.round for r in resumed.rounds] == [1, 2, 3]
    with open_registry(f"sqlite:///{tmp_path / 'registry.db'}").begin() as session:
        versions = repository.list_versions(session)
    assert [v.lineage["rounds"] for v in versions] == [3, 2]
    assert versions[0].kind == "federated" and versions[0].lineage["partners"] == ["partner0", "partner1", "partner2"]
    assert Path(versions[0].artifact_uri).is_file()


def test_partner_with_unusable_update_is_excluded(
    partner_dirs: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A partner whose training diverges to NaN is excluded with a logged reason; the others go on."""
    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    poisoned = partners[2]
    features = np.load(poisoned / "features.npy")
    features[:, :5] = np.nan
    np.save(poisoned / "features.npy", features)
    # The manifest pins file hashes, so the altered folder must be re-signed to get past the loader:
    # this simulates a partner whose pipeline itself produced NaNs.
    import json

    from fedadmet.federated.prepare import _sha256

    manifest = json.loads((poisoned / "manifest.json").read_text())
    manifest["files"]["features.npy"] = _sha256(poisoned / "features.npy")
    (poisoned / "manifest.json").write_text(json.dumps(manifest))

    with caplog.at_level(logging.WARNING, logger="fedadmet.federation"):
        run = simulate(partners, settings(tmp_path, rounds=1, secagg=False), require_secagg=False)
    assert run.status == "completed", run.error
    assert run.rounds[0].partners == ["partner0", "partner1"]
    assert run.rounds[0].excluded, "the NaN partner must be listed as excluded"
    assert any("NaN" in reason for reason in run.rounds[0].excluded.values())
    assert any("excluded" in record.getMessage() for record in caplog.records)
