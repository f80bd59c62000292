"""ClinicalTask called directly: FedAvg over three hospitals lands near the pooled model, and nothing
person-level leaves a hospital."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from fedadmet.clinical.federated_task import ClinicalTask
from fedadmet.clinical.omop import open_cdm, read_cdm
from fedadmet.clinical.study import covariate_names
from fedadmet.federated.protocol import TASKS, RoundInfo
from fedadmet.workflows import clinical
from tests.clinical.conftest import DRUG_SCORES


def test_fedavg_over_three_hospitals_converges_near_pooled(consortium: dict[str, Path]) -> None:
    study = clinical.synthetic_study("cardiotoxicity", DRUG_SCORES)
    folders = list(consortium.values())
    federated = clinical.federate_in_process(folders, study, rounds=30, local_steps=25)
    splits = [clinical.split(site) for site in clinical.extract_sites(folders, study)]
    pooled = clinical.train_logistic(clinical.combined([s.train for s in splits]), study)
    test = clinical.combined([s.test for s in splits])
    federated_auroc = roc_auc_score(test.outcome, federated.model.predict_proba(test.covariates))
    pooled_auroc = roc_auc_score(test.outcome, pooled.predict_proba(test.covariates))
    assert abs(federated_auroc - pooled_auroc) < 0.01
    assert federated.history[-1]["log_loss"] < federated.history[1]["log_loss"]
    assert set(federated.hospital_metrics) == set(consortium)


def test_the_task_is_registered_for_the_runtime() -> None:
    assert isinstance(TASKS["clinical"](), ClinicalTask)


def test_fit_and_evaluate_return_no_person_level_value(consortium: dict[str, Path]) -> None:
    study = clinical.synthetic_study("cardiotoxicity", DRUG_SCORES)
    folder = next(iter(consortium.values()))
    cdm = read_cdm(open_cdm(folder / "cdm.duckdb"))
    names = covariate_names(study, cdm.concept)
    # As the coordinator sends them: through JSON (tuples become lists, concept ids become strings).
    options = json.loads(json.dumps({**study.to_options(), "covariate_names": names, "local_steps": 5}))
    task = ClinicalTask()
    session = task.open_partner(folder, options)
    shared = task.initial_parameters(options)
    returned: list[np.ndarray] = []
    for server_round in (1, 2):
        info = RoundInfo(server_round=server_round, run_name="privacy", run_id=1, options=options)
        fitted = session.fit(shared, info)
        evaluated = session.evaluate(fitted.parameters, info)
        # Only fixed-size arrays (one value per agreed covariate), whatever the number of patients.
        assert {name: values.shape for name, values in fitted.parameters.items()} == {
            name: values.shape for name, values in shared.items()
        }
        for metrics in (fitted.metrics, evaluated.metrics):
            assert all(isinstance(value, int | float | str) for value in metrics.values())
        returned += [
            *fitted.parameters.values(),
            np.array([v for v in evaluated.metrics.values() if not isinstance(v, str)]),
        ]
        shared = fitted.parameters
    numbers = np.concatenate([np.ravel(values) for values in returned])
    person_values = np.concatenate(
        [
            cdm.person["person_id"].to_numpy(dtype=float),
            cdm.person["year_of_birth"].to_numpy(dtype=float),
            cdm.measurement["value_as_number"].dropna().to_numpy(dtype=float),
            cdm.drug_exposure["quantity"].dropna().to_numpy(dtype=float),
        ]
    )
    informative = numbers[(numbers != 0) & (numbers != 1)]
    assert not np.isin(np.round(informative, 6), np.round(person_values, 6)).any()
    assert len(pd.unique(np.round(informative, 6))) > 0
