"""The fair federated protocol's statistics, on numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.federated.statistics import (
    attack_power,
    conformal_efficiency,
    improve_to_perfect,
    lira_statistics,
    rounds_to_fraction,
    t_interval,
)


def test_t_interval_over_seeds() -> None:
    interval = t_interval([0.01, 0.03, 0.02, 0.04, 0.00])
    # mean 0.02, sd 0.0158, t(0.975, 4) = 2.776: half-width 0.0196
    assert interval.mean == pytest.approx(0.02)
    assert interval.low == pytest.approx(0.02 - 0.01963, abs=1e-4)
    assert interval.high == pytest.approx(0.02 + 0.01963, abs=1e-4)
    assert t_interval([0.5]).to_json() == {"mean": 0.5, "ci95": None, "n": 1}


def test_rounds_to_95_percent_of_the_final_score() -> None:
    assert rounds_to_fraction([0.2, 0.5, 0.58, 0.6]) == 3  # 0.95 * 0.6 = 0.57
    assert rounds_to_fraction([0.61, 0.5, 0.6]) == 1
    assert rounds_to_fraction([-2.0, -0.5, -0.2]) == 3  # within 5 % of |final| below a negative final
    assert rounds_to_fraction([]) is None


def test_improve_to_perfect() -> None:
    assert improve_to_perfect(0.7, 0.6) == pytest.approx(0.25)
    assert improve_to_perfect(0.5, 0.6) == pytest.approx(-0.25)
    assert improve_to_perfect(1.0, 1.0) is None


def test_conformal_efficiency_counts_single_label_sets() -> None:
    labels = np.array([1] * 10 + [0] * 10)
    calibration = np.concatenate([np.linspace(0.6, 1.0, 10), np.linspace(0.0, 0.4, 10)])  # perfectly separated
    # a clear positive and a clear negative get one label; 0.5 lies past both classes' calibration scores
    assert conformal_efficiency(calibration, labels, np.array([0.95, 0.05]), error=0.1) == 1.0
    assert conformal_efficiency(calibration, labels, np.array([0.5]), error=0.1) == 0.0
    assert conformal_efficiency(calibration, labels, np.array([0.5]), error=0.5) == 0.0  # empty set, not one label


def test_attack_power_separates_members() -> None:
    rng = np.random.default_rng(0)
    chance = attack_power(rng.normal(size=2000), rng.normal(size=2000), resamples=50)
    assert chance.auc.mean == pytest.approx(0.5, abs=0.03)
    assert chance.tpr_at_fpr["1%"].mean == pytest.approx(0.01, abs=0.01)
    perfect = attack_power(np.arange(100) + 1000.0, np.arange(100.0), resamples=50)
    assert perfect.auc.mean == 1.0 and perfect.tpr_at_fpr["0.1%"].mean == 1.0
    assert perfect.auc.low == 1.0 and chance.auc.low < 0.5 < chance.auc.high


def test_lira_flags_memorised_records() -> None:
    """Records the trunk's embedding encodes exactly (memorised) score above the non-members; without
    memorisation the attack is at chance."""
    rng = np.random.default_rng(1)
    truth = rng.normal(size=400)
    honest = np.column_stack([truth + rng.normal(scale=0.3, size=400), rng.normal(size=400)])
    members, others = np.arange(100), np.arange(300, 400)
    memorised = honest.copy()
    memorised[members, 0] = truth[members]
    aucs = []
    for embedding in (memorised, honest):
        statistic = lira_statistics(
            embedding, truth[:, None], np.array([False]), np.arange(100, 200), np.arange(200, 300),
            np.concatenate([members, others]),
        )  # fmt: skip
        aucs.append(attack_power(statistic[:100], statistic[100:], resamples=20).auc.mean)
    assert aucs[0] > 0.65 and abs(aucs[1] - 0.5) < 0.06
