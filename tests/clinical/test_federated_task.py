"""ClinicalTask through the Flower runtime: three hospitals federate under SecAgg+ near the pooled model and
are recorded in the registry; and what a hospital's node sends carries no person-level value."""

import json
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Context, Message, RecordDict
from flwr.common import EvaluateIns, FitIns, ndarrays_to_parameters
from flwr.compat.common.recorddict_compat import evaluateins_to_recorddict, fitins_to_recorddict
from flwr.supercore.task_identity import TaskIdentity
from sklearn.metrics import roc_auc_score

from fedadmet.clinical.federated_task import ClinicalTask, OutsideSecAggRangeError
from fedadmet.clinical.omop import open_cdm, read_cdm
from fedadmet.federated.client_app import make_client_app
from fedadmet.federated.coordinator import SECAGG_CLIPPING_RANGE
from fedadmet.federated.plan import FederationPlan
from fedadmet.federated.protocol import VALID_SCORE, RoundInfo, get_task
from fedadmet.workflows import clinical
from tests.clinical.conftest import DRUG_SCORES


def test_the_task_is_registered_for_the_runtime() -> None:
    assert isinstance(get_task("clinical"), ClinicalTask)


@pytest.mark.slow
def test_flower_federation_of_three_hospitals_under_secagg_lands_near_pooled(
    consortium: dict[str, Path], tmp_path: Path
) -> None:
    study = clinical.synthetic_study("cardiotoxicity", DRUG_SCORES)
    folders = list(consortium.values())
    result = clinical.federate(
        folders,
        study,
        checkpoint_dir=tmp_path / "checkpoints",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
        run_name="clinical-test",
        rounds=12,
    )
    run = result.run
    assert run.status == "completed", run.error
    assert run.secagg and [r.round for r in run.rounds] == list(range(1, 14))
    assert all(r.partners == sorted(consortium) for r in run.rounds)
    assert run.model_version is not None and run.model_version.lineage["task"] == "clinical"
    assert set(result.hospital_metrics) == set(consortium)
    assert all(m[VALID_SCORE] > 0.6 for m in result.hospital_metrics.values())
    assert all(
        (folder / "federated_model" / "clinical-test" / f"run-{run.id}" / "model.json").is_file() for folder in folders
    )
    splits = [clinical.split(site) for site in clinical.extract_sites(folders, study)]
    pooled = clinical.train_logistic(clinical.combined([s.train for s in splits]), study)
    test = clinical.combined([s.test for s in splits])
    assert result.model is not None
    federated_auroc = roc_auc_score(test.outcome, result.model.predict_proba(test.covariates))
    pooled_auroc = roc_auc_score(test.outcome, pooled.predict_proba(test.covariates))
    assert abs(federated_auroc - pooled_auroc) < 0.02, (federated_auroc, pooled_auroc)


def test_a_covariate_shared_beyond_the_secagg_range_is_refused_before_it_leaves(consortium: dict[str, Path]) -> None:
    """Without the agreed scales, ages and lab values would be clipped by SecAgg+: the hospital refuses."""
    options = clinical.federation_options(list(consortium.values()), clinical.synthetic_study("cardiotoxicity"))
    options["covariate_scale"] = {}
    task = ClinicalTask()
    session = task.open_partner(next(iter(consortium.values())), options, {})
    with pytest.raises(OutsideSecAggRangeError) as refused:
        session.fit(task.initial_parameters(options), RoundInfo(1, "scale", 1, 3, options))
    assert "feature_square_mean" in refused.value.arrays


@pytest.fixture(autouse=True)
def task_identity() -> None:
    """Flower stamps messages with the running task's identity, which a real node sets at start-up."""
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def _config(plan: FederationPlan, names: list[str], server_round: int) -> dict:
    return {
        "parameter-names": json.dumps(names),
        "server-round": server_round,
        "federation": plan.model_dump_json(),
        "n-partners": 3,
        "key-id": "",
        "run-name": "wire",
        "run-id": 1,
        "trunk-round": server_round - 1,
    }


def test_what_a_hospital_sends_holds_no_person_level_value(consortium: dict[str, Path]) -> None:
    """Fit replies (the moments round and a weights round) and evaluate replies: only arrays of one value per
    agreed covariate, within SecAgg+'s range, and scalar metrics; none of the CDM's person-level values."""
    study = clinical.synthetic_study("cardiotoxicity", DRUG_SCORES)
    folder = next(iter(consortium.values()))
    options = clinical.federation_options(list(consortium.values()), study, local_steps=5)
    plan = FederationPlan(rounds=3, **options)
    task = ClinicalTask()
    shared = task.initial_parameters(options)
    names = sorted(shared)
    n_covariates = len(options["covariate_names"])
    app = make_client_app(require_secagg=False, task=task)
    state = Context(run_id=1, node_id=1, node_config={"data-dir": str(folder)}, state=RecordDict(), run_config={})
    cdm = read_cdm(open_cdm(folder / "cdm.duckdb"))
    patients = len(cdm.person)
    numbers: list[np.ndarray] = []
    for server_round in (1, 2, 3):
        fit = FitIns(ndarrays_to_parameters([shared[k] for k in names]), _config(plan, names, server_round))
        reply = app(Message(fitins_to_recorddict(fit, True), dst_node_id=1, message_type="train"), state)
        assert not reply.has_error(), reply.error
        assert list(reply.content.array_records) == ["fitres.parameters"]
        sent = reply.content.array_records["fitres.parameters"].to_numpy_ndarrays()
        assert [a.size for a in sent] == [shared[k].size for k in names]  # one value per covariate, or one
        assert all(a.size in (1, n_covariates) and a.size < patients for a in sent)
        assert all(np.abs(a).max() <= SECAGG_CLIPPING_RANGE for a in sent)
        metrics = dict(reply.content.config_records["fitres.metrics"])
        assert set(metrics) == {"stage", "partner"}
        shared = dict(zip(names, sent, strict=True))
        evaluate = EvaluateIns(ndarrays_to_parameters(sent), _config(plan, names, server_round + 1))
        answer = app(Message(evaluateins_to_recorddict(evaluate, True), dst_node_id=1, message_type="evaluate"), state)
        assert not answer.has_error(), answer.error
        assert not answer.content.array_records  # an evaluation sends no array at all
        shared_metrics = dict(answer.content.config_records["evaluateres.metrics"])
        assert set(shared_metrics) == {VALID_SCORE, "auroc", "events", "brier", "log_loss", "bytes_sent", "partner"}
        assert all(isinstance(v, int | float | str) for v in shared_metrics.values())
        numbers += [*sent, np.array([v for v in shared_metrics.values() if not isinstance(v, str)], dtype=float)]
    assert 0.5 < float(shared_metrics[VALID_SCORE]) <= 1.0  # it learned over the rounds
    flat = np.concatenate([np.ravel(a) for a in numbers])
    person_values = np.concatenate(
        [
            cdm.person["person_id"].to_numpy(dtype=float),
            cdm.person["year_of_birth"].to_numpy(dtype=float),
            cdm.measurement["value_as_number"].dropna().to_numpy(dtype=float),
            cdm.drug_exposure["quantity"].dropna().to_numpy(dtype=float),
        ]
    )
    informative = flat[(flat != 0) & (flat != 1)]
    assert len(informative) > 0
    assert not np.isin(np.round(informative, 6), np.round(person_values, 6)).any()
