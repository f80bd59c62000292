import numpy as np
import pytest

from fedadmet.models.calibration import ConformalRegressor, PlattCalibrator
from fedadmet.models.domain import ApplicabilityDomain


def test_conformal_intervals_reach_their_coverage_on_new_data() -> None:
    rng = np.random.default_rng(0)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        difficulty = rng.uniform(0.1, 2.0, n)  # heteroscedastic noise, visible through disagreement
        truth = rng.normal(size=n)
        prediction = truth + rng.normal(scale=difficulty)
        return truth, prediction, difficulty

    calibrator = ConformalRegressor.fit(*sample(2000), coverage=0.9)
    truth, prediction, difficulty = sample(5000)
    inside = np.abs(truth - prediction) <= calibrator.half_width(difficulty)
    assert inside.mean() == pytest.approx(0.9, abs=0.02)
    assert calibrator.half_width(np.array([2.0]))[0] > calibrator.half_width(np.array([0.1]))[0]


def test_platt_scaling_repairs_overconfident_probabilities() -> None:
    rng = np.random.default_rng(1)
    true_probability = rng.uniform(0.05, 0.95, 20000)
    labels = (rng.uniform(size=true_probability.size) < true_probability).astype(int)
    logit = np.log(true_probability / (1 - true_probability))
    overconfident = 1 / (1 + np.exp(-3 * logit))
    calibrated = PlattCalibrator.fit(overconfident[:10000], labels[:10000])(overconfident[10000:])
    held_out = labels[10000:]
    for low, high in ((0.1, 0.3), (0.4, 0.6), (0.7, 0.9)):
        in_bin = (calibrated >= low) & (calibrated < high)
        assert held_out[in_bin].mean() == pytest.approx(calibrated[in_bin].mean(), abs=0.03)


def test_platt_never_reverses_the_ranking() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 120)
    anti_correlated = (rng.uniform(size=p.size) > p).astype(int)  # a validation set that disagrees with the model
    calibrated = PlattCalibrator.fit(p, anti_correlated)(p)
    order = np.argsort(p)
    assert np.all(np.diff(calibrated[order]) >= 0)
    assert calibrated.std() < p.std()  # flattened toward the base rate instead of flipped


def test_platt_with_one_class_is_identity() -> None:
    p = np.array([0.2, 0.7])
    np.testing.assert_allclose(PlattCalibrator.fit(p, np.ones(2))(p), p)


def _domain(
    reference: np.ndarray,
    membership: np.ndarray,
    held_out: np.ndarray,
    held_out_membership: np.ndarray,
    quantile: float = 0.05,
) -> ApplicabilityDomain:
    return ApplicabilityDomain.fitted(reference, membership, ["a", "b"], held_out, held_out_membership, quantile)


def test_domain_score_is_the_nearest_reference_tanimoto_similarity() -> None:
    rng = np.random.default_rng(1)
    reference = rng.uniform(size=(40, 70)) < 0.3
    query = np.vstack([rng.uniform(size=(12, 70)) < 0.3, np.zeros((1, 70), dtype=bool)])  # last: no bit set
    membership = np.column_stack([np.arange(40) < 10, np.arange(40) >= 10])  # "a": the first 10 references
    domain = _domain(reference.astype(np.float32), membership, np.zeros((0, 70)), np.zeros((0, 2)))

    def tanimoto(a: np.ndarray, b: np.ndarray) -> float:
        union = np.sum(a | b)
        return float(np.sum(a & b) / union) if union else 0.0

    scores = domain.score(query * 3.0)  # counts, not bits
    np.testing.assert_allclose(scores.overall, [max(tanimoto(q, r) for r in reference) for q in query], rtol=1e-6)
    expected_a = [max(tanimoto(q, r) for r in reference[:10]) for q in query]
    np.testing.assert_allclose(scores.by_endpoint["a"], expected_a, rtol=1e-6)


def test_domain_thresholds_keep_the_requested_share_of_held_out_molecules() -> None:
    rng = np.random.default_rng(2)
    train = (rng.uniform(size=(300, 64)) < 0.2).astype(np.float32)
    held_out = np.clip(train[:200] + (rng.uniform(size=(200, 64)) < 0.05), 0, 1)
    every = np.ones((300, 2), dtype=bool)
    domain = _domain(train, every, held_out, np.ones((200, 2), dtype=bool), quantile=0.1)
    scores = domain.score(held_out)
    assert (scores.overall >= domain.threshold).mean() == pytest.approx(0.9, abs=0.02)
    assert scores.in_domain_by_endpoint["b"].mean() == pytest.approx(0.9, abs=0.02)
    assert domain.score(train[:5]).overall.min() == pytest.approx(1.0)


def test_a_molecule_is_in_the_domain_of_the_endpoints_it_trained() -> None:
    """Measured against its own endpoint's molecules, a training molecule of "a" is in a's domain even if
    "b", trained on other chemistry, has a strict threshold it misses."""
    rng = np.random.default_rng(3)
    a_molecules = (rng.uniform(size=(50, 128)) < 0.05).astype(np.float32)
    b_molecules = (rng.uniform(size=(200, 128)) < 0.4).astype(np.float32)
    reference = np.vstack([a_molecules, b_molecules])
    membership = np.column_stack([np.arange(250) < 50, np.arange(250) >= 50])
    held_out = np.vstack([a_molecules[:20], b_molecules[:40]]) + (rng.uniform(size=(60, 128)) < 0.01)
    held_membership = np.column_stack([np.arange(60) < 20, np.arange(60) >= 20])
    domain = _domain(reference, membership, held_out, held_membership)
    scores = domain.score(a_molecules)
    assert scores.in_domain_by_endpoint["a"].all()
    np.testing.assert_allclose(scores.by_endpoint["a"], 1.0)
    assert scores.by_endpoint["b"].max() < 0.5 and not scores.in_domain_by_endpoint["b"].any()


def test_platt_on_a_separable_validation_set_keeps_distinct_probabilities_distinct() -> None:
    rng = np.random.default_rng(0)
    probabilities = np.r_[rng.uniform(0.6, 0.99, 45), rng.uniform(0.05, 0.5, 13)]
    labels = np.r_[np.ones(45), np.zeros(13)]
    calibrator = PlattCalibrator.fit(probabilities, labels)
    new = rng.uniform(0.3, 0.999, 100)
    calibrated = calibrator(new)
    assert len(np.unique(calibrated)) == len(np.unique(new))
    assert calibrated.max() < 1.0
