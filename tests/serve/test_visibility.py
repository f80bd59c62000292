"""Which shared federation metrics a partner's user sees: its own, and the consortium mean over at least 3."""

from fedadmet.serve.visibility import consortium_mean, round_view, version_metrics_view

SCORES = {
    "pharma_a": {"valid_score": 0.5, "examples": 10, "partner": "pharma_a", "converged": True},
    "pharma_b": {"valid_score": 0.6, "examples": 20, "partner": "pharma_b"},
    "pharma_c": {"valid_score": 0.7, "partner": "pharma_c"},
}


def test_the_mean_covers_only_metrics_that_at_least_three_partners_reported() -> None:
    mean = consortium_mean(SCORES)
    assert mean == {"partners": 3, "valid_score": 0.6}  # examples: two partners only; text and flags are no scores
    # from a mean over two, either partner could work out the other's score
    assert consortium_mean({k: SCORES[k] for k in ("pharma_a", "pharma_b")}) == {}


def test_a_partner_sees_its_own_metrics_and_exclusion_and_counts_the_others() -> None:
    excluded = {"pharma_b": "dropped out", "hospital_d": "update holds NaN"}
    view = round_view({"evaluate": SCORES, "fit": {"pharma_b": {"loss": 1.0}}}, excluded, "pharma_b")
    assert view["metrics"] == {"evaluate": {"pharma_b": SCORES["pharma_b"]}, "fit": {"pharma_b": {"loss": 1.0}}}
    assert view["consortium_mean"] == {"evaluate": {"partners": 3, "valid_score": 0.6}}
    assert view["excluded"] == {"pharma_b": "dropped out"} and view["excluded_hidden"] == 1
    everything = round_view({"evaluate": SCORES}, excluded, None)  # the operator
    assert everything["metrics"]["evaluate"] == SCORES and everything["excluded"] == excluded
    assert everything["excluded_hidden"] == 0


def test_a_federated_versions_scores_are_filtered_and_a_centralised_versions_are_not() -> None:
    metrics = {"partners": SCORES, "epsilon": 2.0, "delta": 1e-5}
    seen = version_metrics_view(metrics, "pharma_c")
    assert seen["partners"] == {"pharma_c": SCORES["pharma_c"]} and seen["epsilon"] == 2.0
    assert seen["consortium_mean"]["valid_score"] == 0.6
    assert version_metrics_view(metrics, None)["partners"] == SCORES
    centralised = {"hERG": {"value": 0.8, "metric": "roc-auc"}}
    assert version_metrics_view(centralised, "pharma_c") == centralised
