"""Campaigns end to end through the registry: rounds, ingest with rejects, crash and resume."""

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from fedadmet.campaigns.engine import CampaignSpec
from fedadmet.campaigns.objective import Objective, Term
from fedadmet.exceptions import InputError
from fedadmet.registry import campaign_repository
from fedadmet.registry.database import _session_factory, open_registry
from fedadmet.workflows import campaigns as workflow

pytestmark = pytest.mark.slow  # each test featurises a small pool and fits GPs (seconds)

SPEC = CampaignSpec(
    objective=Objective(terms=[Term(column="pIC50", goal="maximize", low=4, high=8, unit="")]),
    strategy="ucb",
    batch_size=4,
)


def _registry(tmp_path: Path) -> sessionmaker[Session]:
    """A fresh engine and session factory each call, as a restarted process would open them."""
    _session_factory.cache_clear()
    return open_registry(f"sqlite:///{tmp_path / 'registry.db'}")


def _results(path: Path, pool_file: Path, ids: list[str], extra_rows: list[dict] | None = None) -> Path:
    pool = pd.read_csv(pool_file).set_index("compound_id")
    rows = [{"compound_id": c, "endpoint": "pIC50", "value": pool.loc[c, "pIC50"], "unit": ""} for c in ids]
    pd.DataFrame(rows + (extra_rows or [])).to_csv(path, index=False)
    return path


@pytest.fixture
def campaign(tmp_path: Path, pool_file: Path, tiny_model_dir: Path) -> str:
    seed = _results(tmp_path / "seed.csv", pool_file, ["C000", "C001", "C002", "C003", "C004", "C005"])
    workflow.create_campaign(
        _registry(tmp_path),
        name="mpro",
        pool_path=pool_file,
        spec=SPEC,
        campaigns_dir=tmp_path / "campaigns",
        model_dir=tiny_model_dir,
        measurements=seed,
    )
    return "mpro"


def test_rounds_write_order_files_and_never_repeat_a_pending_pick(campaign: str, tmp_path: Path) -> None:
    sessions = _registry(tmp_path)
    first = workflow.propose_round(sessions, campaign, None)
    second = workflow.propose_round(sessions, campaign, None)  # round 1 not measured yet: its picks are pending
    first_ids = {p["compound_id"] for p in first.picks}
    assert (first.round, second.round) == (1, 2)
    assert first_ids.isdisjoint(p["compound_id"] for p in second.picks)
    assert first_ids.isdisjoint({"C000", "C001", "C002", "C003", "C004", "C005"})  # measured at the start
    order = pd.read_csv(first.order_files[0])
    assert order["compound_id"].tolist() == [p["compound_id"] for p in first.picks]
    assert {"smiles", "pIC50_predicted", "reason"} <= set(order.columns)
    assert order["reason"].str.startswith("ucb").all()
    assert Path(first.order_files[1]).read_text().count("$$$$") == len(first.picks)
    status = workflow.campaign_status(sessions, campaign, None)
    assert set(status["pending"]) == first_ids | {p["compound_id"] for p in second.picks}


def test_ingest_names_bad_rows_stores_the_rest_and_loses_nothing(
    campaign: str, tmp_path: Path, pool_file: Path
) -> None:
    sessions = _registry(tmp_path)
    picks = [p["compound_id"] for p in workflow.propose_round(sessions, campaign, None).picks]
    bad = [
        {"compound_id": "NOPE", "endpoint": "pIC50", "value": 6, "unit": ""},
        {"compound_id": picks[0], "endpoint": "pIC50", "value": "high", "unit": ""},
        {"compound_id": picks[1], "endpoint": "pIC50", "value": "<5.1", "unit": ""},
        {"compound_id": picks[1], "endpoint": "LogP", "value": 2, "unit": ""},
        {"compound_id": picks[2], "endpoint": "pIC50", "value": 6, "unit": "nM"},
    ]
    outcome = workflow.ingest_results(
        sessions, campaign, _results(tmp_path / "r1.csv", pool_file, picks[:3], bad), None
    )
    assert outcome.rows == 8
    assert {r["row"] for r in outcome.rejects} == {4, 5, 7, 8}  # 1-based data rows
    reasons = {r["row"]: r["reason"] for r in outcome.rejects}
    assert "NOPE" in reasons[4] and "'high'" in reasons[5] and "LogP" in reasons[7] and "nM" in reasons[8]
    assert outcome.stored == 4  # three good rows and the censored "<5.1"
    with sessions() as session:
        stored = campaign_repository.list_measurements(session, 1)
    assert len(stored) == 6 + 4  # the seed's six are still there
    censored = [m for m in stored if m.relation == -1]
    assert len(censored) == 1 and censored[0].value == pytest.approx(5.1)
    with pytest.raises(InputError, match="already"):
        workflow.ingest_results(sessions, campaign, tmp_path / "r1.csv", None)


def test_a_campaign_stopped_between_ingest_and_propose_resumes_without_losing_or_repeating(
    campaign: str, tmp_path: Path, pool_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = workflow.propose_round(_registry(tmp_path), campaign, None)
    ids = [p["compound_id"] for p in first.picks]
    workflow.ingest_results(_registry(tmp_path), campaign, _results(tmp_path / "r1.csv", pool_file, ids), None)

    # the process dies while recording round 2 (after choosing and writing the order files)
    def die(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(campaign_repository, "record_round", die)
    with pytest.raises(KeyboardInterrupt):
        workflow.propose_round(_registry(tmp_path), campaign, None)
    monkeypatch.undo()

    sessions = _registry(tmp_path)  # a new process
    status = workflow.campaign_status(sessions, campaign, None)
    assert [r["round"] for r in status["rounds"]] == [1]
    assert status["measured_compounds"] == 6 + len(ids) and status["pending"] == []
    second = workflow.propose_round(sessions, campaign, None)
    assert second.round == 2
    assert set(ids).isdisjoint(p["compound_id"] for p in second.picks)
    with sessions() as session:
        picks = campaign_repository.list_picks(session, 1)
    assert len(picks) == len({p.compound_id for p in picks}) == len(ids) + len(second.picks)


def test_an_exhausted_pool_is_said_plainly(campaign: str, tmp_path: Path) -> None:
    sessions = _registry(tmp_path)
    with pytest.raises(InputError, match="no candidate left"):
        for _ in range(10):
            workflow.propose_round(sessions, campaign, None)
    status = workflow.campaign_status(sessions, campaign, None)
    assert len(status["pending"]) == 24 - 6  # every unmeasured molecule ordered exactly once


def test_the_report_shows_rounds_and_calibration(campaign: str, tmp_path: Path, pool_file: Path) -> None:
    sessions = _registry(tmp_path)
    ids = [p["compound_id"] for p in workflow.propose_round(sessions, campaign, None).picks]
    workflow.ingest_results(sessions, campaign, _results(tmp_path / "r1.csv", pool_file, ids), None)
    status = workflow.campaign_status(sessions, campaign, None)
    assert status["rounds"][0]["calibration"]["pIC50"]["n"] == len(ids)
    assert "| 1 | ucb | 4 | 4 |" in workflow.campaign_report(sessions, campaign, None)


def test_constraints_hold_on_predictions_and_unknown_columns_are_refused(
    tmp_path: Path, pool_file: Path, tiny_model_dir: Path
) -> None:
    from fedadmet.campaigns.objective import Constraint

    sessions = _registry(tmp_path)
    common = {"pool_path": pool_file, "campaigns_dir": tmp_path / "campaigns", "model_dir": tiny_model_dir}
    with pytest.raises(InputError, match="LogP"):
        workflow.create_campaign(
            sessions,
            name="bad",
            spec=SPEC.model_copy(update={"constraints": [Constraint(column="LogP", high=3)]}),
            **common,
        )
    limit = 0.5
    strict = SPEC.model_copy(update={"constraints": [Constraint(column="hERG", high=limit)], "batch_size": 24})
    workflow.create_campaign(sessions, name="strict", spec=strict, **common)
    picks = workflow.propose_round(sessions, "strict", None).picks
    priors = pd.read_csv(tmp_path / "campaigns" / "strict" / workflow.PRIORS_FILE)
    pool = pd.read_csv(tmp_path / "campaigns" / "strict" / workflow.POOL_FILE)
    allowed = set(pool["compound_id"][priors["hERG"] <= limit])
    assert 0 < len(picks) == len(allowed) < len(pool)  # the batch takes every allowed molecule and no other
    assert {p["compound_id"] for p in picks} == allowed
