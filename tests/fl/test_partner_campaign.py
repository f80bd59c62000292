"""A partner's campaign: its kept federated model is the prior, and its measurements join the partner's
data for the next federated run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fedadmet import predict
from fedadmet.campaigns.engine import CampaignSpec
from fedadmet.campaigns.objective import Objective, Term
from fedadmet.cli import app
from fedadmet.config import get_settings
from fedadmet.data.assay import Measurements
from fedadmet.data.catalogue import get_endpoint
from fedadmet.exceptions import InputError
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.partner_model import partner_predictor
from fedadmet.federated.prepare import load_partner_inputs, prepare_partner, recorded_manifest
from fedadmet.federated.task import PartnerData, train_with_selection
from fedadmet.federated.tasks.molecular import keep_partner_model
from fedadmet.registry import campaign_repository
from fedadmet.registry.database import open_registry
from fedadmet.workflows import campaigns as workflow
from fedadmet.workflows.federation import RunSettings, simulate
from fedadmet.workflows.store import open_store
from tests.fl.partners import TEST_KEY, partner_measurements

LIPO = "Lipophilicity_AstraZeneca"
SPEC = CampaignSpec(objective=Objective(terms=[Term(column=LIPO, goal="within", low=1, high=3)]), batch_size=4)
runner = CliRunner()
FEDERATION = FederationConfig(rounds=1, trunk={"hidden_sizes": (32, 16)}, secagg=False)


def _pool(partner_dirs: list[Path], path: Path) -> pd.DataFrame:
    """Molecules of another partner that partner0 has never measured."""
    own = set(pd.read_csv(partner_dirs[0] / "compounds.csv")["smiles"])
    other = pd.read_csv(partner_dirs[1] / "compounds.csv")
    pool = other[~other["smiles"].isin(own)].head(12).reset_index(drop=True)
    frame = pd.DataFrame({"compound_id": [f"P{i:02d}" for i in range(len(pool))], "smiles": pool["smiles"]})
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_a_partner_campaign_starts_from_its_kept_model_and_feeds_its_next_run(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    net, _ = train_with_selection(PartnerData.load(partners[0]), FEDERATION, 2)
    keep_partner_model(partners[0], "consortium", 4, net, {"valid_score": 0.5}, FEDERATION)
    key_file = tmp_path / "consortium.key"
    key_file.write_text(TEST_KEY.hex())
    pool = _pool(partner_dirs, tmp_path / "pool.csv")
    spec = tmp_path / "spec.json"
    spec.write_text(SPEC.model_dump_json())
    get_settings.cache_clear()  # this test's FEDADMET_HOME: its registry and campaigns folder
    prior = ["--partner-data", str(partners[0]), "--key", str(key_file)]
    created = runner.invoke(
        app, ["campaign", "create", "p0-lipo", "--pool", str(tmp_path / "pool.csv"), "--spec", str(spec), *prior]
    )
    assert created.exit_code == 0, created.output
    sessions = open_store()
    with sessions() as session:
        campaign = campaign_repository.get_campaign(session, "p0-lipo", None)
        assert campaign.partner == "partner0" and "run 4" in campaign.model_uri
    priors = workflow.load_pool(get_settings().campaigns_dir / "p0-lipo").priors
    expected = predict(pool["smiles"].head(3).tolist(), model=partner_predictor(partners[0], TEST_KEY))
    np.testing.assert_allclose(priors[LIPO].head(3), expected[LIPO], rtol=1e-5)

    results = tmp_path / "results.csv"
    measured = {"P00": 2.5, "P01": 0.7, "P02": 3.9}
    pd.DataFrame({"compound_id": list(measured), "endpoint": LIPO, "value": list(measured.values())}).to_csv(
        results, index=False
    )
    assert workflow.ingest_results(sessions, "p0-lipo", results, "partner0").stored == 3
    raw = tmp_path / "raw"
    handed = runner.invoke(
        app, ["campaign", "to-partner", "p0-lipo", "--partner-data", str(partners[0]), "--raw-data", str(raw)]
    )
    assert handed.exit_code == 0, handed.output
    assert "3 new of 3 rows for partner0" in " ".join(handed.output.split())  # however the console wraps
    again = workflow.hand_to_partner(sessions, "p0-lipo", partners[0], raw)
    assert (again.added, again.total) == (0, 3)  # nothing twice, nothing lost

    before = partner_measurements()[0]
    added = load_partner_inputs([raw / "campaign-p0-lipo.csv"])
    both = Measurements(pd.concat([before.frame, added.frame], ignore_index=True), [])
    prepare_partner(both, TEST_KEY, partners[0], "partner0", cache_dir=tmp_path / "cache", overwrite=True)
    run = simulate(
        partners,
        RunSettings(
            run_name="after-campaign",
            n_partners=3,
            federation=FEDERATION,
            checkpoint_dir=tmp_path / "checkpoints",
            registry_url=f"sqlite:///{tmp_path / 'runs.db'}",
        ),
        require_secagg=False,
    )
    assert run.status == "completed", run.error
    compounds = pd.read_csv(partners[0] / "compounds.csv")
    labels = np.load(partners[0] / "labels.npz")["values"]
    column = [t["name"] for t in recorded_manifest(partners[0])["tasks"]].index(LIPO)
    for compound, value in measured.items():
        smiles = pool.loc[pool["compound_id"] == compound, "smiles"].item()
        row = compounds.index[compounds["smiles"] == smiles].item()
        assert labels[row, column] == pytest.approx(get_endpoint(LIPO).to_model_scale(np.array([value]))[0])


def _campaign_record(tmp_path: Path, partner: str, measured: dict[str, float]) -> sessionmaker[Session]:
    """A registry holding one campaign of ``partner`` with measurements of P01 (no pool needed to refuse)."""
    sessions = open_registry(f"sqlite:///{tmp_path / 'registry.db'}")
    with sessions.begin() as session:
        campaign = campaign_repository.create_campaign(
            session,
            name="lipo",
            partner=partner,
            spec=SPEC.model_dump(mode="json"),
            pool_source="pool.csv",
            pool_sha256="0" * 64,
            pool_size=1,
            folder=str(tmp_path / "lipo"),
            model_uri=f"{partner}'s model",
        )
        rows = [
            {"compound_id": "P01", "column": column, "relation": 0, "value": value, "unit": "", "source_row": i + 1}
            for i, (column, value) in enumerate(measured.items())
        ]
        campaign_repository.record_ingest(
            session, campaign.id, filename="r.csv", sha256="1" * 64, rows=len(rows), rejects=[], measurements=rows
        )
    return sessions


def test_a_campaign_of_another_partner_is_not_handed_over(partner_dirs: list[Path], tmp_path: Path) -> None:
    sessions = _campaign_record(tmp_path, "partner1", {LIPO: 2.0})
    with pytest.raises(InputError, match="partner1, not to partner0"):
        workflow.hand_to_partner(sessions, "lipo", partner_dirs[0], tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_column_the_partner_does_not_train_is_refused(partner_dirs: list[Path], tmp_path: Path) -> None:
    sessions = _campaign_record(tmp_path, "partner0", {LIPO: 2.0, "pIC50": 6.1})
    with pytest.raises(InputError, match=r"\['pIC50'\], which the federation does not train"):
        workflow.hand_to_partner(sessions, "lipo", partner_dirs[0], tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_a_key_without_partner_data_names_the_campaign_option(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "campaign",
            "create",
            "c",
            "--pool",
            str(tmp_path / "p.csv"),
            "--spec",
            str(tmp_path / "s.json"),
            "--key",
            "k",
        ],
    )
    assert result.exit_code != 0 and "go with --partner-data" in result.output
