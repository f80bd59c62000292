import numpy as np

from fedadmet.models.blending import ValidationParts, choose_blend_weight

LABELS = np.array([0, 0, 1, 1, 0, 1, 0, 1], dtype=float)
GOOD = np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.7, 0.2, 0.9])
NOISE = np.array([0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.6, 0.4])


def test_weight_follows_the_better_predictor_across_endpoints() -> None:
    gbm_better = [ValidationParts("roc-auc", LABELS, GOOD, NOISE) for _ in range(3)]
    trunk_better = [ValidationParts("roc-auc", LABELS, NOISE, GOOD) for _ in range(3)]
    candidates = (0.0, 0.25, 0.5, 0.75, 1.0)
    assert choose_blend_weight(gbm_better, candidates) == 1.0
    assert choose_blend_weight(trunk_better, candidates) < 0.5  # ties (AUC 1.0 at 0 and 0.25) go to more GBM


def test_majority_of_endpoints_decides_not_one_noisy_endpoint() -> None:
    parts = [ValidationParts("roc-auc", LABELS, GOOD, NOISE) for _ in range(4)]
    parts.append(ValidationParts("roc-auc", LABELS, NOISE, GOOD))
    assert choose_blend_weight(parts, (0.25, 1.0)) == 1.0


def test_regression_uses_lower_is_better_metrics() -> None:
    truth = np.linspace(0, 1, 10)
    parts = [ValidationParts("mae", truth, truth + 0.01, truth + 1.0)]
    assert choose_blend_weight(parts, (0.0, 0.5, 1.0)) == 1.0


def test_without_usable_validation_labels_the_blend_is_even() -> None:
    parts = [ValidationParts("roc-auc", np.ones(4), GOOD[:4], NOISE[:4])]
    assert choose_blend_weight(parts, (0.25, 1.0)) == 0.5
