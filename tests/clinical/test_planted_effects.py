"""The pipeline (cohort → covariates → L1 logistic) recovers the generator's planted effects."""

from pathlib import Path

import numpy as np
import pytest

from fedadmet.clinical import synthetic
from fedadmet.workflows import clinical
from tests.clinical.conftest import DRUG_SCORES


def _weights(folders: dict[str, Path], toxicity: str, drug_scores: dict | None = None):
    study = clinical.synthetic_study(toxicity, drug_scores)
    pooled = clinical.combined(clinical.extract_sites(list(folders.values()), study))
    return clinical.train_logistic(pooled, study).weights()


def _condition(name: str) -> str:
    return f"condition_{synthetic.COMORBIDITIES[name]}_365d"


def _drug(name: str) -> str:
    return f"drug_{synthetic.DRUG_BY_NAME[name].concept_id}_365d"


def test_cardiotoxicity_risk_factors_and_the_molecular_effect_come_out_positive(consortium: dict[str, Path]) -> None:
    weights = _weights(consortium, "cardiotoxicity", DRUG_SCORES)
    assert weights[_condition("heart failure")] > 0.2
    assert weights["age_decades"] > 0
    assert weights["molecular_hERG"] > 0.2
    # Not a risk factor of cardiotoxicity in the ground truth: far smaller than the planted ones.
    assert abs(weights[_condition("COPD")]) < weights[_condition("heart failure")] / 3


def test_nephrotoxicity_risk_factors_come_out_positive(consortium: dict[str, Path]) -> None:
    weights = _weights(consortium, "nephrotoxicity")
    assert weights[_condition("renal impairment")] > 0.1
    assert weights[_drug("cisplatin")] > 0.1
    assert weights[f"measurement_{synthetic.LABS['creatinine']}_value"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("planted", [True, False])
def test_molecular_covariates_help_only_where_an_effect_is_planted(tmp_path: Path, planted: bool) -> None:
    spec = synthetic.SyntheticSpec(
        n_patients=5000, n_hospitals=2, seed=11, molecular_effect=planted, drug_scores=DRUG_SCORES
    )
    folders = clinical.generate(tmp_path, spec)
    study = clinical.synthetic_study("cardiotoxicity", DRUG_SCORES)
    pooled = clinical.combined(clinical.extract_sites(list(folders.values()), study))
    delta = clinical.train_and_evaluate(pooled, study, title="t", report_dir=None, n_boot=50).molecular_delta
    assert delta is not None
    if planted:
        assert delta.low > 0, delta
    else:
        assert delta.low <= 0 <= delta.high or abs(delta.value) < 0.01, delta
    assert np.isfinite(delta.value)
