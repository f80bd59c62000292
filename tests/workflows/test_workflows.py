"""The use cases as entry points call them: resolving a model, profiling, API keys and data QC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedadmet.config import get_settings
from fedadmet.exceptions import InputError
from fedadmet.workflows.data import quality_report
from fedadmet.workflows.keys import check_key, create_key, list_keys, local_api_key, revoke_keys
from fedadmet.workflows.predictors import register_served_model, resolve_predictor
from fedadmet.workflows.profiling import describe_endpoints, profile, profile_cards, summarise
from fedadmet.workflows.store import open_store


def test_a_model_folder_is_resolved_and_named_by_its_path(tiny_model_dir: Path) -> None:
    resolved = resolve_predictor(get_settings(), model=tiny_model_dir)
    assert resolved.folder == tiny_model_dir.resolve() and str(tiny_model_dir.resolve()) == resolved.description
    assert resolved.caveats == [] and set(resolved.model.endpoints) == {"hERG", "Caco2_Wang"}


def test_the_default_model_follows_the_settings_passed_in(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEDADMET_MODEL_DIR", str(tiny_model_dir))
    get_settings.cache_clear()
    assert resolve_predictor(get_settings()).folder == tiny_model_dir.resolve()


@pytest.mark.parametrize(
    "options",
    [
        {"model": Path("m"), "partner": Path("p")},  # two models named
        {"key": Path("k")},  # a key without a partner
        {"run": "1"},
        {"partner": Path("p")},  # a partner without its key
    ],
)
def test_contradictory_model_choices_are_input_errors(options: dict[str, object]) -> None:
    with pytest.raises(InputError):
        resolve_predictor(get_settings(), **options)  # type: ignore[arg-type]


def test_profile_keeps_only_the_endpoints_asked_for(tiny_model_dir: Path) -> None:
    everything = profile(["CCO", "C1CC("], predictor=tiny_model_dir)
    herg = profile(["CCO", "C1CC("], predictor=tiny_model_dir, endpoints=["hERG"])
    assert "hERG" in herg and "hERG_uncertainty" in herg
    assert not any(column.startswith("Caco2_Wang") for column in herg.columns)
    assert herg["hERG"].equals(everything["hERG"]) and herg["error"].equals(everything["error"])
    with pytest.raises(InputError, match="'LD50_Zhu'"):
        profile(["CCO"], predictor=tiny_model_dir, endpoints=["LD50_Zhu"])


def test_summary_counts_rows_and_names_each_failed_row(tiny_model_dir: Path) -> None:
    summary = summarise(profile(["CCO", "C1CC(", "", "c1ccccc1O"], predictor=tiny_model_dir))
    assert (summary.rows, summary.predicted) == (4, 2)
    assert [row for row, _ in summary.failures] == [2, 3]
    assert 0 <= summary.out_of_domain <= 2


def test_cards_carry_every_endpoint_and_an_optional_drawing(tiny_model_dir: Path) -> None:
    model = resolve_predictor(get_settings(), model=tiny_model_dir).model
    quantiles = {name: list(np.linspace(-10, 10, 101)) for name in model.endpoints}
    good, bad = profile_cards(model, quantiles, ["CCO", "C1CC("], depict=True)
    assert {row["name"] for row in good["endpoints"]} == set(model.endpoints)
    assert good["svg"].startswith("<svg") and bad["svg"] is None and bad["error"]
    assert [row["name"] for row in describe_endpoints(model.endpoints)] == model.endpoints


def test_the_served_model_is_registered_once(tiny_model_dir: Path) -> None:
    store = open_store(get_settings().registry_url)
    resolved = resolve_predictor(get_settings(), model=tiny_model_dir)
    assert register_served_model(store, resolved) == register_served_model(store, resolved)


def test_keys_are_made_checked_listed_and_revoked() -> None:
    store = open_store(get_settings().registry_url)
    made = create_key(store, "ana", "site_a")
    assert made.partner == "site_a" and made.unknown_partner  # no run names site_a yet
    caller = check_key(store, made.key)
    assert caller is not None and (caller.name, caller.partner) == ("ana", "site_a")
    assert [(key.user, key.prefix, key.revoked) for key in list_keys(store)] == [("ana", made.prefix, False)]
    assert revoke_keys(store, made.prefix) == 1
    assert check_key(store, made.key) is None and check_key(store, "fa_unknown") is None


def test_the_local_key_is_kept_while_the_registry_accepts_it(tmp_path: Path) -> None:
    store = open_store(get_settings().registry_url)
    key_file = tmp_path / "local_api_key"
    first = local_api_key(store, key_file)
    assert local_api_key(store, key_file) == first and oct(key_file.stat().st_mode)[-3:] == "600"
    revoke_keys(store, first)
    assert local_api_key(store, key_file) != first


def test_quality_report_points_a_long_assay_table_to_prepare(tmp_path: Path) -> None:
    path = tmp_path / "assays.csv"
    path.write_text("compound_id,smiles,endpoint,relation,value,unit\nc1,CCO,hERG,=,1,\n")
    with pytest.raises(InputError, match="long assay table"):
        quality_report(path)
    tdc = tmp_path / "herg.csv"
    tdc.write_text("Drug_ID,Drug,Y\na,CCO,1\nb,OCC,0\nc,bad(,1\n")
    assert "rejected: 1" in quality_report(tdc, endpoint="hERG").to_markdown()
