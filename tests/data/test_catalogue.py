"""The endpoint catalogue names what TDC / ADMET-AI name, with TDC's metrics and invertible transforms."""

from __future__ import annotations

import numpy as np
import pytest

from fedadmet.data.catalogue import (
    CATALOGUE,
    ENDPOINTS,
    TDC_BENCHMARK_ENDPOINTS,
    Task,
    Transform,
    get_endpoint,
    name_key,
)
from fedadmet.data.public import PHARMABENCH_ENDPOINTS
from fedadmet.exceptions import InputError

# The 22 TDC ADMET benchmark group data sets and the metric TDC's leaderboard ranks each by.
TDC_METRICS = {
    "caco2_wang": "mae",
    "hia_hou": "roc-auc",
    "pgp_broccatelli": "roc-auc",
    "bioavailability_ma": "roc-auc",
    "lipophilicity_astrazeneca": "mae",
    "solubility_aqsoldb": "mae",
    "bbb_martins": "roc-auc",
    "ppbr_az": "mae",
    "vdss_lombardo": "spearman",
    "cyp2c9_veith": "pr-auc",
    "cyp2d6_veith": "pr-auc",
    "cyp3a4_veith": "pr-auc",
    "cyp2c9_substrate_carbonmangels": "pr-auc",
    "cyp2d6_substrate_carbonmangels": "pr-auc",
    "cyp3a4_substrate_carbonmangels": "roc-auc",
    "half_life_obach": "spearman",
    "clearance_hepatocyte_az": "spearman",
    "clearance_microsome_az": "spearman",
    "ld50_zhu": "mae",
    "herg": "roc-auc",
    "ames": "roc-auc",
    "dili": "roc-auc",
}
TOX21 = [
    "NR-AR",
    "NR-AR-LBD",
    "NR-AhR",
    "NR-Aromatase",
    "NR-ER",
    "NR-ER-LBD",
    "NR-PPAR-gamma",
    "SR-ARE",
    "SR-ATAD5",
    "SR-HSE",
    "SR-MMP",
    "SR-p53",
]


def test_catalogue_has_the_tdc_benchmark_endpoints_and_more() -> None:
    assert set(TDC_BENCHMARK_ENDPOINTS) == set(TDC_METRICS)
    assert len(TDC_BENCHMARK_ENDPOINTS) == 22
    for name in ["CYP1A2_Veith", "CYP2C19_Veith", "ClinTox", *TOX21]:
        assert name in CATALOGUE
        assert CATALOGUE[name].tdc_benchmark is None
        assert CATALOGUE[name].is_classification
    assert len(CATALOGUE) == len(ENDPOINTS) == 22 + 2 + 12 + 1 + len(PHARMABENCH_ENDPOINTS)  # names are unique
    assert len(PHARMABENCH_ENDPOINTS) == 9


def test_every_tdc_endpoint_uses_tdc_metric_and_a_matching_task() -> None:
    for tdc_name, endpoint in TDC_BENCHMARK_ENDPOINTS.items():
        assert endpoint.metric in {"mae", "spearman", "roc-auc", "pr-auc"}
        assert endpoint.metric == TDC_METRICS[tdc_name], tdc_name
        assert endpoint.name.lower() == tdc_name
        expected_task = Task.REGRESSION if endpoint.metric in {"mae", "spearman"} else Task.CLASSIFICATION
        assert endpoint.task is expected_task, tdc_name
        assert endpoint.is_classification == (expected_task is Task.CLASSIFICATION)


def test_endpoint_fields_are_consistent() -> None:
    for endpoint in ENDPOINTS:
        assert endpoint.good in {None, "higher", "lower"}, endpoint.name
        assert endpoint.description
        if endpoint.is_classification:
            assert endpoint.unit == "probability"
            assert endpoint.transform is Transform.NONE
    assert all(CATALOGUE[name].good == "lower" for name in TOX21)


def test_log10_endpoints_are_the_skewed_pharmacokinetic_ones() -> None:
    log10 = {e.name for e in ENDPOINTS if e.transform is Transform.LOG10}
    pharmabench = {f"Clearance_Microsome_{species}_PharmaBench" for species in ("Human", "Rat", "Mouse")}
    pharmabench |= {f"{cyp}_IC50_PharmaBench" for cyp in ("CYP2C9", "CYP2D6", "CYP3A4")} | {
        "Fraction_Unbound_PharmaBench"
    }
    assert log10 == {
        "VDss_Lombardo",
        "Half_Life_Obach",
        "Clearance_Hepatocyte_AZ",
        "Clearance_Microsome_AZ",
        *pharmabench,
    }


@pytest.mark.parametrize("endpoint", list(ENDPOINTS), ids=lambda e: e.name)
def test_transforms_round_trip(endpoint) -> None:
    values = np.array([0.01, 0.5, 1.0, 3.0, 150.0, 2.5e4])
    model_scale = endpoint.to_model_scale(values)
    assert model_scale.dtype == np.float64
    np.testing.assert_allclose(endpoint.from_model_scale(model_scale), values, rtol=1e-12)


def test_log10_transform_values() -> None:
    vdss = get_endpoint("VDss_Lombardo")
    np.testing.assert_allclose(vdss.to_model_scale(np.array([1.0, 10.0, 1000.0])), [0.0, 1.0, 3.0])
    np.testing.assert_allclose(vdss.from_model_scale(np.array([-1.0, 2.0])), [0.1, 100.0])
    caco2 = get_endpoint("Caco2_Wang")
    np.testing.assert_array_equal(caco2.to_model_scale([-4.5, -6.0]), [-4.5, -6.0])  # no transform


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Caco2_Wang", "Caco2_Wang"),
        ("caco2_wang", "Caco2_Wang"),
        ("CACO2_WANG", "Caco2_Wang"),
        ("herg", "hERG"),
        ("hERG", "hERG"),
        ("ld50_zhu", "LD50_Zhu"),
        ("NR-AhR", "NR-AhR"),
        ("ClinTox", "ClinTox"),
        ("Caco2 Wang", "Caco2_Wang"),  # as people type them: spaces, hyphens, case
        ("caco2-wang", "Caco2_Wang"),
        ("nr ahr", "NR-AhR"),
        ("Solubility AqSolDB", "Solubility_AqSolDB"),
        ("cyp2c9_substrate_carbonmangels", "CYP2C9_Substrate_CarbonMangels"),
    ],
)
def test_get_endpoint_accepts_both_naming_styles(name: str, expected: str) -> None:
    assert get_endpoint(name) is CATALOGUE[expected]


@pytest.mark.parametrize("name", ["Caco2", "toxicity", "", "NR-AR-LBD2"])
def test_get_endpoint_rejects_unknown_names(name: str) -> None:
    with pytest.raises(InputError, match="unknown endpoint") as info:
        get_endpoint(name)
    assert "Caco2_Wang" in str(info.value)  # the message lists what is available


def test_a_misspelt_endpoint_gets_the_closest_names() -> None:
    with pytest.raises(
        InputError, match=r"unknown endpoint 'Lipophilicity_Astrazenca'; did you mean 'Lipophilicity_Astra"
    ):
        get_endpoint("Lipophilicity_Astrazenca")


def test_every_spelling_key_names_one_endpoint() -> None:
    keys = [name_key(e.name) for e in CATALOGUE.values()]
    assert len(set(keys)) == len(keys)
    for endpoint in CATALOGUE.values():
        for spelling in (
            endpoint.name.upper(),
            endpoint.name.replace("_", " "),
            endpoint.tdc_benchmark or endpoint.name,
        ):
            assert get_endpoint(spelling) is endpoint


@pytest.mark.parametrize(
    ("name", "labels", "problem"),
    [
        ("hERG", [0, 1, 1, 0], None),
        ("hERG", [0, 100, 100], "labels 0 or 1, but 2 label(s) differ, e.g. 100"),
        ("hERG", [1, 1, 1], "needs both classes, but every label is 1"),
        ("hERG", [0, 1, np.inf], "1 label(s) are not finite"),
        ("Caco2_Wang", [-5.1, -4.2], None),
        ("Half_Life_Obach", [3.0, 0.0], "must be > 0"),
    ],
)
def test_labels_that_cannot_train_an_endpoint_say_why(name: str, labels: list[float], problem: str | None) -> None:
    found = get_endpoint(name).label_problem(np.array(labels, dtype=float))
    assert found == problem if problem is None else problem in found


def test_every_regression_endpoint_declares_the_range_its_values_and_intervals_keep() -> None:
    for endpoint in ENDPOINTS:
        if endpoint.is_classification:
            continue
        assert endpoint.value_range is not None, endpoint.name
        low, high = endpoint.value_range
        assert low < high and (endpoint.transform is not Transform.LOG10 or low > 0), endpoint.name
        # a wide interval around an extreme value stays inside
        lower, upper = endpoint.interval(np.array([high * 10 if high > 0 else high + 5]), np.array([3.0]))
        assert low <= lower[0] <= upper[0] <= high, endpoint.name
