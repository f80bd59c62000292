"""The Predictor contract, one suite over every kind of model that predicts profiles.

Whatever :func:`fedadmet.inference.predict` is handed (the central model, or the model a federation partner
kept), it must honour the same promises; each check below is run against each predictor, the way
scikit-fingerprints runs one list of checks over every fingerprint. Models are tiny so the suite runs fast.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fedadmet.chem.compute import compute_features
from fedadmet.chem.graphs import graphs_from_smiles
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.data.catalogue import get_endpoint
from fedadmet.inference import Predictor, predict
from fedadmet.models.admet_model import RawPrediction
from fedadmet.models.config import GBMConfig, ModelConfig, TrunkConfig
from tests.tiny_model import endpoint_frame

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"]
SMALL = ModelConfig(
    trunk=TrunkConfig(hidden_sizes=(32,), max_epochs=3, patience=2, batch_size=64),
    gbm=GBMConfig(iterations=20, depth=3),
    ad_reference_size=200,
)


@pytest.fixture(scope="module")
def central_model() -> Predictor:
    """The central model, trained through the training workflow on 100-120 rows of three endpoints (one of them,
    solubility, learns from the input forms)."""
    from fedadmet.workflows.training import TrainingRecipe, train_model

    frames = {
        "hERG": endpoint_frame("herg", rows=100),
        "Caco2_Wang": endpoint_frame("caco2_wang", rows=100),
        # drawn across the file: its first rows are acyclic, one scaffold group that no split can divide
        "Solubility_AqSolDB": endpoint_frame("solubility_aqsoldb", rows=8000).sample(120, random_state=0),
    }
    return train_model(frames, TrainingRecipe(side_tasks=False, valid_fraction=0.25, config=SMALL), progress=False)


@pytest.fixture(scope="module")
def partner_model(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """A partner's kept federated model on 240 prepared rows of BBB and lipophilicity."""
    from fedadmet.federated.config import FederationConfig
    from fedadmet.federated.partner_model import partner_predictor
    from fedadmet.federated.prepare import prepare_partner
    from fedadmet.federated.task import PartnerData, train_with_selection
    from fedadmet.federated.tasks.molecular import keep_partner_model
    from tests.fl.partners import TEST_KEY, partner_measurements

    root = tmp_path_factory.mktemp("contract-partner")
    folder = root / "partner0"
    prepare_partner(partner_measurements(1, 240)[0], TEST_KEY, folder, "partner0", cache_dir=root / "cache")
    federation = FederationConfig(rounds=2, trunk={"hidden_sizes": (16,)})
    net, _ = train_with_selection(PartnerData.load(folder), federation, federation.rounds)
    keep_partner_model(folder, "consortium", 1, net, {"valid_score": 0.5}, federation)
    return partner_predictor(folder, TEST_KEY)


def _predict(predictor: Predictor, smiles: list[str]) -> RawPrediction:
    return predictor.predict_features(
        compute_features(smiles, predictor.feature_set, parallel=ParallelOptions(progress=False)),
        graphs_from_smiles(smiles) if predictor.reads_graphs else None,
    )


def check_endpoints_are_catalogue_names(predictor: Predictor) -> None:
    assert predictor.endpoints and len(set(predictor.endpoints)) == len(predictor.endpoints)
    for name in predictor.endpoints:
        assert get_endpoint(name).name == name


def check_form_endpoints_are_its_own_form_dependent_endpoints(predictor: Predictor) -> None:
    assert set(predictor.form_endpoints) <= set(predictor.endpoints)
    assert all(get_endpoint(name).form_dependent for name in predictor.form_endpoints)


def check_one_value_and_uncertainty_per_row_and_endpoint(predictor: Predictor) -> None:
    prediction = _predict(predictor, MOLECULES)
    assert list(prediction.values) == predictor.endpoints == list(prediction.uncertainty)
    for name in predictor.endpoints:
        assert prediction.values[name].shape == prediction.uncertainty[name].shape == (len(MOLECULES),)
        assert np.isfinite(prediction.values[name]).all()


def check_classifiers_give_calibrated_probabilities(predictor: Predictor) -> None:
    prediction = _predict(predictor, MOLECULES)
    for name in predictor.endpoints:
        values, uncertainty = prediction.values[name], prediction.uncertainty[name]
        if get_endpoint(name).is_classification:
            assert ((values >= 0) & (values <= 1)).all()
            np.testing.assert_array_equal(uncertainty, np.minimum(values, 1 - values))  # chance the call is wrong
        else:
            assert (uncertainty > 0).all()  # an interval half-width


def check_domain_scores_are_similarities_and_in_domain_follows_them(predictor: Predictor) -> None:
    prediction = _predict(predictor, [*MOLECULES, "[Xe]"])
    assert ((prediction.domain_score >= 0) & (prediction.domain_score <= 1)).all()
    assert prediction.in_domain.dtype == bool and len(prediction.in_domain) == len(MOLECULES) + 1
    assert not prediction.in_domain[-1]  # a xenon atom is like nothing a model was trained on


def check_rows_are_predicted_independently(predictor: Predictor) -> None:
    together = _predict(predictor, MOLECULES)
    reversed_order = _predict(predictor, MOLECULES[::-1])
    alone = _predict(predictor, MOLECULES[2:3])
    for name in predictor.endpoints:
        np.testing.assert_allclose(together.values[name][::-1], reversed_order.values[name], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(together.values[name][2:3], alone.values[name], rtol=1e-5, atol=1e-6)


def check_predictions_repeat_exactly(predictor: Predictor) -> None:
    first, second = _predict(predictor, MOLECULES), _predict(predictor, MOLECULES)
    for name in predictor.endpoints:
        np.testing.assert_array_equal(first.values[name], second.values[name])
    np.testing.assert_array_equal(first.domain_score, second.domain_score)


def check_profiles_name_every_endpoint_and_refuse_bad_rows(predictor: Predictor) -> None:
    result = predict(["CCO", "C1CC("], model=predictor)
    assert result["error"].notna().tolist() == [False, True]
    for name in predictor.endpoints:
        assert {name, f"{name}_uncertainty"} <= set(result.columns)
        assert np.isfinite(result.loc[0, name])


CHECKS: list[Callable[[Predictor], None]] = [
    check_endpoints_are_catalogue_names,
    check_form_endpoints_are_its_own_form_dependent_endpoints,
    check_one_value_and_uncertainty_per_row_and_endpoint,
    check_classifiers_give_calibrated_probabilities,
    check_domain_scores_are_similarities_and_in_domain_follows_them,
    check_rows_are_predicted_independently,
    check_predictions_repeat_exactly,
    check_profiles_name_every_endpoint_and_refuse_bad_rows,
]


@pytest.mark.parametrize("kind", ["central_model", "partner_model"])
@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_predictor_contract(kind: str, check: Callable[[Predictor], None], request: pytest.FixtureRequest) -> None:
    check(request.getfixturevalue(kind))
