import json
import math

import numpy as np
import pandas as pd
import pytest

from fedadmet.data.catalogue import get_endpoint
from fedadmet.workflows.cards import _records, interval, molecule_profiles, radar, threshold_statement, traffic_light
from fedadmet.workflows.reference import percentile

QUANTILES = list(np.linspace(0.0, 10.0, 101))


def test_percentile_interpolates_and_handles_ties_and_missing_values() -> None:
    assert percentile(QUANTILES, 5.0) == pytest.approx(50.0)
    assert percentile(QUANTILES, -1.0) == 0.0
    assert percentile(QUANTILES, 11.0) == 100.0
    assert percentile([0.0] * 60 + list(np.linspace(0.01, 1, 41)), 0.0) == pytest.approx(29.5)
    assert percentile(QUANTILES, math.nan) is None


@pytest.mark.parametrize(
    ("endpoint", "value", "drug_percentile", "expected"),
    [
        ("hERG", 0.1, None, "green"),  # lower is better: low blocking probability
        ("hERG", 0.5, None, "amber"),
        ("hERG", 0.9, None, "red"),
        ("HIA_Hou", 0.9, None, "green"),  # higher is better
        ("HIA_Hou", 0.3, None, "amber"),  # the cuts themselves, as the statements say (no 1 - 0.7 float slip)
        ("HIA_Hou", 0.7, None, "green"),
        ("hERG", 0.3, None, "green"),
        ("hERG", 0.7, None, "amber"),
        ("BBB_Martins", 0.9, None, "neutral"),  # direction depends on the project
        ("Solubility_AqSolDB", -3.0, 40.0, "green"),  # stated band wins over percentiles
        ("Solubility_AqSolDB", -5.0, 40.0, "amber"),
        ("Solubility_AqSolDB", -7.0, 40.0, "red"),
        ("Lipophilicity_AstraZeneca", 4.5, 90.0, "red"),
        ("Half_Life_Obach", 10.0, 80.0, "green"),  # higher is better, by drug percentile
        ("Half_Life_Obach", 1.0, 5.0, "red"),
        ("Clearance_Hepatocyte_AZ", 100.0, 95.0, "red"),  # lower is better
        ("Half_Life_Obach", 10.0, None, "neutral"),
    ],
)
def test_traffic_lights_follow_the_stated_thresholds(
    endpoint: str, value: float, drug_percentile: float | None, expected: str
) -> None:
    assert traffic_light(get_endpoint(endpoint), value, drug_percentile) == expected
    assert threshold_statement(get_endpoint(endpoint))


def test_classifier_statements_say_which_outcome_the_probability_is_of() -> None:
    assert threshold_statement(get_endpoint("HIA_Hou")).startswith("probability of the favourable outcome: green ≥ 0.7")
    assert threshold_statement(get_endpoint("hERG")).startswith("probability of the unfavourable outcome: green ≤ 0.3")


def _bounds(name: str, value: float, half_width: float) -> list[float]:
    lower, upper = get_endpoint(name).interval(np.array([value]), np.array([half_width]))
    return [float(lower[0]), float(upper[0])]


def test_intervals_stay_within_the_physical_range() -> None:
    assert _bounds("PPBR_AZ", 95.0, 10.0) == [pytest.approx(85.0), 100.0]


def test_intervals_are_in_source_units_for_log_transformed_endpoints() -> None:
    low, high = _bounds("Half_Life_Obach", 10.0, 1.0)
    assert (low, high) == (pytest.approx(1.0), pytest.approx(100.0))
    assert _bounds("Caco2_Wang", -5.0, 0.5) == [pytest.approx(-5.5), pytest.approx(-4.5)]
    assert interval(get_endpoint("hERG"), {}) is None


def test_profiles_show_the_interval_that_predict_computed() -> None:
    record = {"Caco2_Wang_lower": -5.5, "Caco2_Wang_upper": -4.5}
    assert interval(get_endpoint("Caco2_Wang"), record) == [-5.5, -4.5]
    assert interval(get_endpoint("Caco2_Wang"), {"Caco2_Wang_lower": np.nan, "Caco2_Wang_upper": np.nan}) is None


def test_radar_scores_are_oriented_so_that_one_is_desirable() -> None:
    rows = {
        "hERG": {"value": 0.8, "percentile": 90.0},
        "Solubility_AqSolDB": {"value": -2.0, "percentile": 75.0},
        "HIA_Hou": {"value": 0.9, "percentile": 60.0},
    }
    scores = {axis["axis"]: axis["score"] for axis in radar(rows)}
    assert scores == {"hERG safety": pytest.approx(0.2), "Solubility": 0.75, "Absorption": 0.9}


def test_profiles_keep_row_order_and_report_errors_without_predictions() -> None:
    frame = pd.DataFrame(
        {
            "input_smiles": ["CCO.Cl", "bad"],
            "smiles": ["CCO", None],
            "standardisation": ["kept the largest organic fragment, removed Cl", ""],
            "hERG": [0.2, np.nan],
            "hERG_uncertainty": [0.2, np.nan],
            "hERG_domain": [0.4, np.nan],
            "hERG_in_domain": [False, None],
            "applicability_domain": [0.7, np.nan],
            "in_domain": [True, None],
            "alerts": ["Brenk:ethanol-ish; NIH:x", None],
            "error": [None, "RDKit cannot parse SMILES 'bad'"],
        }
    )
    good, bad = molecule_profiles(frame, ["hERG"], {"hERG": QUANTILES})
    assert good["alerts"] == ["Brenk:ethanol-ish", "NIH:x"] and good["in_domain"] is True
    assert good["standardisation"] == "kept the largest organic fragment, removed Cl"
    assert good["endpoints"][0] | {"percentile": None} == {
        "name": "hERG",
        "category": "Toxicity",
        "task": "classification",
        "unit": "probability",
        "value": 0.2,
        "uncertainty": 0.2,
        "interval": None,
        "percentile": None,
        "traffic_light": "green",
        "domain": 0.4,
        "in_domain": False,  # in the domain overall, outside hERG's own
    }
    assert bad == {"input": "bad", "smiles": None, "standardisation": None, "error": "RDKit cannot parse SMILES 'bad'"}


def test_records_are_what_pandas_gives_row_by_row() -> None:
    frame = pd.DataFrame({"smiles": ["CCO", None], "value": [0.5, np.nan], "in_domain": [True, None], "count": [1, 2]})
    assert json.dumps(_records(frame)) == json.dumps(frame.to_dict("records"))
