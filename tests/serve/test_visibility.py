"""Which shared federation metrics a partner's user sees: its own, and the consortium mean over at least 3."""

import json

from fedadmet.workflows.views import (
    HIDDEN_RUN_ERROR,
    consortium_mean,
    round_view,
    run_error_view,
    version_metrics_view,
)

SCORES = {
    "pharma_a": {"valid_score": 0.5, "examples": 10, "partner": "pharma_a", "converged": True},
    "pharma_b": {"valid_score": 0.6, "examples": 20, "partner": "pharma_b"},
    "pharma_c": {"valid_score": 0.7, "partner": "pharma_c"},
    "pharma_d": {"valid_score": float("nan"), "partner": "pharma_d"},  # nothing to score this round
}


def test_the_mean_covers_only_scores_that_at_least_three_partners_reported() -> None:
    # examples: two partners only; text and flags are no scores; NaN is no score either
    assert consortium_mean(SCORES) == {"partners": {"valid_score": 3}, "valid_score": 0.6}
    # from a mean over two, either partner could work out the other's score
    assert consortium_mean({k: SCORES[k] for k in ("pharma_a", "pharma_b")}) == {}


def test_a_partner_sees_its_own_metrics_and_exclusion_and_counts_the_others() -> None:
    excluded = {"pharma_b": "dropped out", "hospital_e": "update holds NaN"}
    view = round_view({"evaluate": SCORES, "fit": {"pharma_b": {"loss": 1.0}}}, excluded, 4096, "pharma_b")
    assert view["metrics"] == {"evaluate": {"pharma_b": SCORES["pharma_b"]}, "fit": {"pharma_b": {"loss": 1.0}}}
    assert view["consortium_mean"] == {"evaluate": {"partners": {"valid_score": 3}, "valid_score": 0.6}}
    assert view["excluded"] == {"pharma_b": "dropped out"} and view["excluded_hidden"] == 1
    assert view["bytes_sent"] == 4096  # a sum over four partners
    # a sum over two would give the other partner's bytes away
    two = {k: SCORES[k] for k in ("pharma_a", "pharma_b")}
    assert round_view({"evaluate": two}, {}, 4096, "pharma_b")["bytes_sent"] is None
    everything = round_view({"evaluate": two}, excluded, 4096, None)  # the operator
    assert everything["metrics"]["evaluate"] == two and everything["excluded"] == excluded
    assert everything["excluded_hidden"] == 0 and everything["bytes_sent"] == 4096


def test_scores_that_are_not_numbers_are_shown_as_null() -> None:
    view = round_view({"evaluate": SCORES}, {}, 0, None)
    assert view["metrics"]["evaluate"]["pharma_d"]["valid_score"] is None
    json.dumps(view, allow_nan=False)  # what the API's JSON responses require


def test_a_partner_sees_a_run_error_only_when_it_quotes_its_own_failure() -> None:
    own = [{"partner": "site basel", "stage": "train", "reason": "ValueError: bad labels"}]
    error = "RuntimeError: the federation finished without a single aggregated round"
    assert run_error_view(error, own, "site basel") == "train: ValueError: bad labels"
    assert run_error_view(error, own, "pharma_a") == HIDDEN_RUN_ERROR
    both = [*own, {"partner": "pharma_b", "stage": "evaluate", "reason": "OSError: disk full"}]
    assert run_error_view(error, both, "site basel") == HIDDEN_RUN_ERROR
    # a coordinator's reason may name partners in any words, or its own files
    waited = "RuntimeError: waited 600 s for partners; pharma_b and pharma_c never connected"
    assert run_error_view(waited, [], "pharma_a") == HIDDEN_RUN_ERROR
    assert run_error_view(waited, [], None) == waited and run_error_view("", [], "pharma_a") == ""  # the operator; none
    # names may hold colons and quotes now that nothing parses them back out of a text
    odd = [{"partner": "site: 'b'", "stage": "train", "reason": "ValueError: x"}]
    assert run_error_view(error, odd, "site: 'b'") == "train: ValueError: x"
    assert run_error_view(error, odd, "site") == HIDDEN_RUN_ERROR


def test_a_federated_versions_scores_are_filtered_and_a_centralised_versions_are_not() -> None:
    metrics = {"partners": SCORES, "epsilon": 2.0, "delta": 1e-5}
    seen = version_metrics_view("federated", metrics, "pharma_c")
    assert seen["partners"] == {"pharma_c": SCORES["pharma_c"]} and seen["epsilon"] == 2.0
    assert seen["consortium_mean"]["valid_score"] == 0.6
    assert set(version_metrics_view("federated", metrics, None)["partners"]) == set(SCORES)
    assert version_metrics_view("federated", {"epsilon": None}, "pharma_c")["partners"] == {}
    centralised = {"hERG": {"value": 0.8, "metric": "roc-auc"}}
    assert version_metrics_view("centralised", centralised, "pharma_c") == centralised
