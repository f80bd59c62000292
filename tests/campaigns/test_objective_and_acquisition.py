"""The objective's arithmetic and every registered acquisition strategy's contract."""

import numpy as np
import pandas as pd
import pytest

from fedadmet.campaigns.acquisition import (
    ACQUISITIONS,
    Candidates,
    RankedAcquisition,
    make_acquisition,
    register_acquisition,
)
from fedadmet.campaigns.engine import CampaignSpec, RoundInputs, fit_censored, propose
from fedadmet.campaigns.objective import DESIRABILITY_FLOOR, Objective, Term
from fedadmet.campaigns.results import aggregate
from fedadmet.campaigns.surrogates import Features, make_surrogate, tanimoto

POTENCY = Objective(terms=[Term(column="pIC50", goal="maximize", low=4, high=8)])


def test_score_is_a_weighted_geometric_mean_that_skips_unknown_columns() -> None:
    objective = Objective(
        terms=[
            Term(column="pIC50", goal="maximize", low=4, high=8, weight=2),
            Term(column="LogD", goal="within", low=1, high=3, tolerance=1),
        ]
    )
    scores = objective.score(np.array([[6.0, 2.0], [6.0, 3.5], [8.0, np.nan], [np.nan, np.nan]]))
    assert scores[0] == pytest.approx(0.5 ** (2 / 3))  # potency halfway (weight 2), LogD inside (1)
    assert scores[1] == pytest.approx((0.5**2 * 0.5) ** (1 / 3))  # LogD half a tolerance outside
    assert scores[2] == pytest.approx(1.0)  # LogD unknown: left out, not counted as 0
    assert np.isnan(scores[3])


def test_a_log_scale_term_takes_bounds_in_its_own_units() -> None:
    term = Term(column="KSOL", goal="maximize", low=9, high=999, log_scale=True)
    assert term.desirability(term.to_model_scale(np.array([9.0, 99.0, 999.0, 0.0]))) == pytest.approx(
        [DESIRABILITY_FLOOR, 0.5, 1.0, DESIRABILITY_FLOOR]
    )


def test_a_ramp_without_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="low < high"):
        Term(column="pIC50", goal="maximize", low=8, high=4)


def _candidates(n: int = 60, seed: int = 0, surrogate: str = "ensemble") -> Candidates:
    rng = np.random.default_rng(seed)
    fingerprints = rng.poisson(0.5, (n, 64)).astype(np.float32)
    mean = rng.uniform(0, 1, n)
    std = rng.uniform(0.01, 0.3, n)
    members = mean[None] + std[None] * rng.standard_normal((5, n))
    return Candidates(
        score_mean=mean,
        score_std=std,
        score_draws=mean[None] + std[None] * rng.standard_normal((64, n)),
        member_scores=members,
        best=0.8,
        features=Features(fingerprints, fingerprints),
        surrogate=make_surrogate(surrogate, seed=0),
        objective=POTENCY,
    )


@pytest.mark.parametrize("name", sorted(set(ACQUISITIONS) - {"qei"}))
def test_every_strategy_returns_distinct_valid_picks_with_reasons(name: str) -> None:
    candidates = _candidates()
    selection = make_acquisition(name).select(candidates, 12, np.random.default_rng(1))
    assert 0 < len(selection.indices) <= 12
    assert len(set(selection.indices.tolist())) == len(selection.indices)
    assert selection.indices.min() >= 0 and selection.indices.max() < len(candidates)
    assert len(selection.reasons) == len(selection.indices) == len(selection.values)
    assert all(reason.startswith(name) for reason in selection.reasons)
    assert len(make_acquisition(name).select(candidates, 500, np.random.default_rng(1)).indices) <= len(candidates)


def test_greedy_ucb_and_ei_rank_by_their_own_value() -> None:
    candidates = _candidates()
    rng = np.random.default_rng(0)
    greedy = make_acquisition("greedy").select(candidates, 5, rng).indices
    assert set(greedy) == set(np.argsort(-candidates.score_mean)[:5])
    ucb = make_acquisition("ucb", {"beta": 3}).select(candidates, 5, rng).indices
    assert set(ucb) == set(np.argsort(-(candidates.score_mean + 3 * candidates.score_std))[:5])
    ei = make_acquisition("ei").values(candidates)
    assert (ei >= 0).all()
    same_mean = candidates.score_mean.copy()
    # at the same mean, more uncertainty is more expected improvement
    low, high = np.argmin(candidates.score_std), np.argmax(candidates.score_std)
    same_mean[[low, high]] = 0.5
    shifted = Candidates(**{**candidates.__dict__, "score_mean": same_mean})
    values = make_acquisition("ei").values(shifted)
    assert values[high] > values[low]


def test_thompson_picks_each_draws_best() -> None:
    candidates = _candidates()
    picks = make_acquisition("thompson").select(candidates, 1, np.random.default_rng(3)).indices
    assert picks[0] in set(np.argmax(candidates.member_scores, axis=1))


def test_diverse_batch_has_no_two_picks_nearer_than_the_threshold() -> None:
    candidates = _candidates(n=80)
    selection = make_acquisition("diverse", {"max_similarity": 0.3}).select(candidates, 20, np.random.default_rng(0))
    fingerprints = candidates.features.fingerprints[selection.indices].astype(float)
    similarity = tanimoto(fingerprints, fingerprints)
    np.fill_diagonal(similarity, 0)
    assert similarity.max() <= 0.3


def test_random_is_reproducible_from_the_generator() -> None:
    candidates = _candidates()
    first = make_acquisition("random").select(candidates, 10, np.random.default_rng(7)).indices
    again = make_acquisition("random").select(candidates, 10, np.random.default_rng(7)).indices
    assert first.tolist() == again.tolist()


def test_unknown_strategy_and_options_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown acquisition"):
        make_acquisition("bayes-magic")
    with pytest.raises(ValueError, match="takes no options"):
        make_acquisition("greedy", {"beta": 1})
    with pytest.raises(ValueError, match="unexpected keyword"):
        CampaignSpec(objective=POTENCY, strategy="ucb", strategy_options={"gamma": 1})
    with pytest.raises(ValueError, match="unknown strategy"):
        CampaignSpec(objective=POTENCY, strategy="bayes-magic")


def test_a_new_strategy_is_one_small_registered_class() -> None:
    @register_acquisition
    class LowestUncertainty(RankedAcquisition):
        name = "test-lowest-uncertainty"

        def values(self, candidates: Candidates) -> np.ndarray:
            return -candidates.score_std

    try:
        candidates = _candidates()
        spec = CampaignSpec(objective=POTENCY, strategy="test-lowest-uncertainty")
        picks = make_acquisition(spec.strategy).select(candidates, 3, np.random.default_rng(0)).indices
        assert set(picks) == set(np.argsort(candidates.score_std)[:3])
    finally:
        del ACQUISITIONS["test-lowest-uncertainty"]


def _pool(n: int = 40) -> tuple[Features, np.ndarray]:
    rng = np.random.default_rng(0)
    fingerprints = rng.poisson(0.4, (n, 128)).astype(np.float32)
    truth = 4 + fingerprints[:, :8].sum(axis=1) * 0.5 + rng.normal(0, 0.1, n)
    return Features(fingerprints, fingerprints), truth


@pytest.mark.parametrize(("strategy", "surrogate"), [("qei", "gp"), ("ei", "gp"), ("thompson", "ensemble")])
def test_a_round_never_proposes_measured_or_pending_rows(strategy: str, surrogate: str) -> None:
    features, truth = _pool()
    measured = np.full((len(truth), 1), np.nan)
    measured[:10, 0] = truth[:10]
    unavailable = np.zeros(len(truth), dtype=bool)
    unavailable[:15] = True  # 10 measured, 5 ordered and pending
    spec = CampaignSpec(
        objective=POTENCY,
        strategy=strategy,
        surrogate=surrogate,
        batch_size=6,
        surrogate_options={"ensemble": {"members": 3, "iterations": 20}},
        strategy_options={"shortlist": 2, "mc_samples": 32} if strategy == "qei" else {},
    )
    proposal = propose(spec, RoundInputs(features, measured, unavailable), round_number=1)
    assert len(proposal.rows) == 6 and len(set(proposal.rows.tolist())) == 6
    assert proposal.rows.min() >= 15
    assert proposal.fit is not None and proposal.fit.labels == {"pIC50": 10}
    assert np.isfinite(proposal.score_mean).all()
    again = propose(spec, RoundInputs(features, measured, unavailable), round_number=1)
    assert again.rows.tolist() == proposal.rows.tolist()  # a repeated decision (after a crash) is the same


def test_the_ensembles_uncertainty_covers_new_molecules_about_as_stated() -> None:
    rng = np.random.default_rng(0)
    fingerprints = rng.poisson(0.5, (700, 64)).astype(np.float32)
    y = fingerprints[:, :10].sum(axis=1) * 0.3 + rng.normal(0, 0.5, len(fingerprints))
    surrogate = make_surrogate("ensemble", seed=0, members=4, iterations=60)
    train, new = np.arange(400), np.arange(400, 700)
    surrogate.fit(Features(fingerprints[train], fingerprints[train]), y[train, None], ["y"])
    posterior = surrogate.posterior(Features(fingerprints[new], fingerprints[new]))
    z = np.abs(y[new] - posterior.mean[:, 0]) / posterior.std[:, 0]
    members_only = np.abs(y[new] - posterior.mean[:, 0]) / posterior.members[:, :, 0].std(axis=0, ddof=1)
    assert 0.55 <= (z <= 1).mean() <= 0.85  # ~0.68 for a calibrated normal
    assert (members_only <= 1).mean() < 0.5  # the members' spread alone is overconfident


def test_a_censored_bound_is_not_learnt_as_the_value() -> None:
    """Potent compounds reported only as "> 7" (an assay's top): fitted at 7 the model would call them 7;
    with the bounds moved to the first fit's prediction where it lies beyond them, it calls them higher."""
    rng = np.random.default_rng(1)
    fingerprints = rng.poisson(0.5, (300, 32)).astype(np.float32)
    truth = 5 + fingerprints[:, :6].sum(axis=1) * 0.4
    recorded = np.minimum(truth, 7.0)[:, None]
    censored = np.where(truth > 7.0, 1, 0)[:, None]
    features = Features(fingerprints, fingerprints)
    above = censored[:, 0] == 1
    assert 20 <= above.sum() <= 150

    def fitted(marks: np.ndarray | None) -> np.ndarray:
        surrogate = make_surrogate("ensemble", seed=0, members=3, iterations=60)
        fit_censored(surrogate, features, recorded, ["pIC50"], marks)
        return surrogate.posterior(features).mean[:, 0]

    plain, honoured = fitted(None), fitted(censored)
    assert np.array_equal(plain, fitted(np.zeros_like(censored)))  # nothing censored: the plain fit
    assert honoured[above].mean() > plain[above].mean() + 0.05
    assert abs(honoured[above].mean() - truth[above].mean()) < abs(plain[above].mean() - truth[above].mean())
    aggregated = aggregate(
        pd.DataFrame(
            {"compound_id": ["a", "a", "b", "c"], "column": "pIC50", "relation": [1, 1, 0, -1], "value": [6, 7, 5, 4]}
        ),
        POTENCY,
    )
    assert aggregated.set_index("compound_id")["censored"].to_dict() == {"a": 1, "b": 0, "c": -1}
    assert aggregated.set_index("compound_id").loc["a", "scaled"] == 7  # the tightest lower bound
