"""The pure parts of the external benchmark on tiny frames: the endpoint mapping, censored labels, the paired
bootstrap, interval coverage and one endpoint's figures end to end (no model, no ADMET-AI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.external.mapping import (
    ASAP,
    COMPARISONS,
    EXPANSIONRX,
    MICROMOLAR_TO_LOG_MOLAR,
    UNBOUND_TO_BOUND,
    Comparison,
    Target,
)
from benchmarks.external.run import evaluate, summarise
from benchmarks.external.statistics import (
    mapped_interval_coverage,
    paired_spearman,
    parse_censored,
    spearman,
)
from fedadmet.data.catalogue import find_endpoint
from fedadmet.exceptions import InputError


def test_mapping_covers_the_issue_endpoints_with_catalogue_names() -> None:
    assert sum(c.dataset == EXPANSIONRX for c in COMPARISONS) == 7
    assert sum(c.dataset == ASAP for c in COMPARISONS) == 5
    for comparison in COMPARISONS:
        assert find_endpoint(comparison.reference.endpoint) is not None, comparison.measured
    binding = [c for c in COMPARISONS if c.measured in ("MPPB", "MBPB")]
    assert [c.reference.direction for c in binding] == [-1, -1]


def test_the_headline_is_the_tdc_endpoint_and_a_served_lab_endpoint_is_reported_beside_it() -> None:
    comparison = next(c for c in COMPARISONS if c.dataset == EXPANSIONRX and c.measured == "MLM CLint")
    tdc, human = comparison.reference.endpoint, comparison.lab[1].endpoint
    assert comparison.fedadmet_target([human, tdc]).endpoint == tdc
    assert comparison.lab_target([tdc, "hERG"]) is None
    assert comparison.lab_target([tdc, human]).endpoint == human
    assert comparison.lab_target([human, comparison.lab[0].endpoint, tdc]).endpoint == comparison.lab[0].endpoint
    with pytest.raises(LookupError):
        comparison.fedadmet_target([human])


def test_unit_conversions() -> None:
    assert MICROMOLAR_TO_LOG_MOLAR.apply(np.array([100.0]))[0] == pytest.approx(-4.0)
    assert np.isnan(MICROMOLAR_TO_LOG_MOLAR.apply(np.array([0.0]))[0])
    assert UNBOUND_TO_BOUND.apply(np.array([2.5]))[0] == pytest.approx(97.5)


def test_censored_values_are_marked_and_bad_text_names_its_row() -> None:
    parsed = parse_censored(pd.Series(["1.5", "<0.3", " >400", "", None, ">= 2", "7"], name="KSOL"))
    np.testing.assert_allclose(parsed.values, [1.5, 0.3, 400, np.nan, np.nan, 2, 7])
    assert parsed.censored.tolist() == [False, True, True, False, False, True, False]
    assert parsed.usable.tolist() == [True, False, False, False, False, False, True]
    with pytest.raises(InputError, match="row 2"):
        parse_censored(pd.Series(["1", "n.d."], name="LogD"))


def test_paired_bootstrap_scores_both_tools_on_the_same_draws() -> None:
    rng = np.random.default_rng(1)
    measured = rng.normal(size=200)
    noisy = measured + rng.normal(size=200)
    same = paired_spearman(measured, noisy, noisy.copy(), resamples=200)
    # Paired: identical predictors differ by exactly 0 on every draw (unpaired draws would not).
    assert (same.difference.low, same.difference.value, same.difference.high) == (0.0, 0.0, 0.0)
    assert same.first.low < same.first.value < same.first.high
    perfect = paired_spearman(measured, measured, noisy, resamples=200)
    assert perfect.first.value == pytest.approx(1.0)
    assert perfect.difference.low > 0
    assert perfect.difference.value == pytest.approx(1.0 - spearman(noisy, measured))


def test_mapped_coverage_scores_intervals_in_the_measurements_units() -> None:
    rng = np.random.default_rng(2)
    prediction = rng.normal(size=400)
    measured = np.exp(prediction)  # other units, same order
    wide = mapped_interval_coverage(prediction, prediction - 1, prediction + 1, measured, increasing=True)
    assert wide > 0.95  # only molecules beyond the other half's range fall outside (the mapping is clipped there)
    noisy = np.exp(prediction + rng.normal(size=400))
    narrow = mapped_interval_coverage(prediction, prediction - 0.01, prediction + 0.01, noisy, increasing=True)
    assert narrow < 0.2


def test_one_endpoint_from_tiny_frames() -> None:
    """% unbound against a % bound endpoint: a censored label left out, a failed prediction left out, the
    sign turned, MAE and coverage after 100 − x, and the split by domain."""
    unbound = np.array([1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0])
    labels = pd.Series([f"{value:g}" for value in unbound] + ["<0.5", "3"], name="MPPB")
    bound = np.append(100.0 - unbound, [99.0, np.nan])  # the last molecule failed in fedadmet
    fed = pd.DataFrame(
        {
            "PPBR_AZ": bound,
            "PPBR_AZ_lower": bound - 1.0,
            "PPBR_AZ_upper": bound + 1.0,
            "in_domain": pd.array([True] * 4 + [False] * 6, dtype="boolean"),
        }
    )
    admet = pd.DataFrame({"PPBR_AZ": np.append(100.0 - unbound[::-1], [50.0, 50.0])})  # reversed ranks
    comparison = Comparison(EXPANSIONRX, "MPPB", "% unbound", Target("PPBR_AZ", -1, UNBOUND_TO_BOUND))
    row = evaluate(comparison, comparison.reference, None, labels, fed, admet, nominal=0.9, resamples=50)
    assert (row["rows_with_value"], row["censored_left_out"], row["without_prediction"], row["n"]) == (10, 1, 1, 8)
    assert row["spearman"]["fedadmet"]["value"] == pytest.approx(1.0)
    assert row["spearman"]["admet_ai"]["value"] == pytest.approx(-1.0)
    assert row["fedadmet_wins"] is True
    assert row["mae"]["fedadmet"] == pytest.approx(0.0)
    assert row["coverage"]["value"] == pytest.approx(1.0)
    assert (row["domain"]["in"]["n"], row["domain"]["out"]["n"]) == (4, 4)
    assert summarise([row])["wins"] == {EXPANSIONRX: 1}


def test_the_shares_table_counts_each_blends_wins_over_admet_ai(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks.external import shares

    monkeypatch.setattr(shares, "RESULTS", tmp_path)
    reference = {"ExpansionRx LogD": 0.78, "ExpansionRx KSOL": 0.54, "ASAP LogD": 0.69}
    blends = [
        {
            "graph_share": 0.0,
            "gbm_weight": 1.0,
            "spearman": {"ExpansionRx LogD": 0.79, "ExpansionRx KSOL": 0.50, "ASAP LogD": 0.70},
        },
        {
            "graph_share": 0.5,
            "gbm_weight": 1.0,
            "spearman": {"ExpansionRx LogD": 0.80, "ExpansionRx KSOL": 0.55, "ASAP LogD": 0.60},
        },
    ]
    result = {"served": {"graph_weight": 0.5, "gbm_weights": [1.0]}, "admet_ai": reference, "blends": blends}
    shares.write_results(result | {"command": "c", "machine": "m", "seconds": 1.0})
    rows = [line for line in (tmp_path / "external_shares.md").read_text().splitlines() if line.startswith("| 0")]
    assert rows[0].endswith("| 1 of 2 | 1 of 1 |") and rows[1].endswith("| 2 of 2 | 0 of 1 |")
    assert "<u>**0.800**</u>" in rows[1] and "<u>**0.700**</u>" in rows[0]  # each column's best, underlined
    assert "ExpansionRx 2, ASAP 1" in (tmp_path / "external_shares.md").read_text()
