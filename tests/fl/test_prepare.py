"""Keyed partner preparation: consistent across partners with one key, opaque without it, checked on load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedadmet.data.assay import Measurements
from fedadmet.exceptions import InputError
from fedadmet.federated import prepare as prepare_module
from fedadmet.federated.config import ConsortiumConfig
from fedadmet.federated.keys import feature_permutation, generate_key, key_id, keyed_fold, read_key
from fedadmet.federated.prepare import (
    PreparedDataError,
    keyed_features,
    load_partner_inputs,
    prepare_partner,
    quorum,
    read_manifest,
)
from tests.fl.partners import TEST_KEY


def test_permutation_and_folds_depend_only_on_the_key() -> None:
    other = bytes(32)
    assert np.array_equal(feature_permutation(TEST_KEY, 50), feature_permutation(TEST_KEY, 50))
    assert sorted(feature_permutation(TEST_KEY, 50)) == list(range(50))
    assert not np.array_equal(feature_permutation(TEST_KEY, 50), feature_permutation(other, 50))
    folds = [keyed_fold(TEST_KEY, f"scaffold{i}", 5) for i in range(200)]
    assert folds == [keyed_fold(TEST_KEY, f"scaffold{i}", 5) for i in range(200)]
    assert set(folds) == set(range(5))
    assert key_id(TEST_KEY) != key_id(other)


def test_key_files(tmp_path: Path) -> None:
    good = tmp_path / "key"
    good.write_text(generate_key())
    assert len(read_key(good)) == 32
    (tmp_path / "short").write_text("abcd")
    with pytest.raises(InputError, match="2-byte key"):
        read_key(tmp_path / "short")
    (tmp_path / "text").write_text("not hex at all")
    with pytest.raises(InputError, match="not a hex key"):
        read_key(tmp_path / "text")


def test_same_key_same_reference_hash_other_key_differs(tmp_path: Path) -> None:
    config = ConsortiumConfig(reference_size=20)
    forms = ["CCO", "c1ccccc1O"]
    first, hash_a = keyed_features(forms, TEST_KEY, config, tmp_path)
    second, hash_b = keyed_features(forms, TEST_KEY, config, tmp_path)
    _, hash_other = keyed_features(forms, bytes(32), config, tmp_path)
    assert np.array_equal(first, second) and hash_a == hash_b
    assert hash_other != hash_a


def test_quorum_rules() -> None:
    config = ConsortiumConfig()
    assert quorum("AMES", np.zeros(50), np.array([1] * 25 + [0] * 25), config).trainable
    small = quorum("AMES", np.zeros(40), np.array([1] * 24 + [0] * 16), config)
    assert not small.trainable and "25 actives" in small.reason
    censored = quorum("Half_Life_Obach", np.array([0] * 20 + [-1] * 40), np.ones(60), config)
    assert not censored.trainable and "uncensored" in censored.reason


def test_prepared_folder_has_manifest_report_and_flags_untrainable_tasks(partner_dirs: list[Path]) -> None:
    manifest = read_manifest(partner_dirs[0], key_id(TEST_KEY))
    assert manifest["partner"] == "partner0"
    assert {t["name"] for t in manifest["tasks"]} == {"BBB_Martins", "Lipophilicity_AstraZeneca"}
    assert all(t["trainable"] for t in manifest["tasks"])
    assert (partner_dirs[0] / "qc.md").read_text().startswith("# Preparation report: partner0")
    assert (partner_dirs[0] / "qc_labels.png").stat().st_size > 1000
    assert len({read_manifest(p)["reference_hash"] for p in partner_dirs}) == 1


def test_too_few_labels_are_kept_but_not_trainable(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "compound_id": ["a", "b", "c"],
            "smiles": ["CCO", "CCN", "CCC"],
            "form": ["CCO", "CCN", "CCC"],
            "endpoint": ["AMES"] * 3,
            "relation": [0, 0, 0],
            "value": [1.0, 0.0, 1.0],
        }
    )
    manifest = prepare_partner(
        Measurements(frame, []),
        TEST_KEY,
        tmp_path / "p",
        "tiny",
        ConsortiumConfig(reference_size=20),
        cache_dir=tmp_path,
    )
    assert manifest["tasks"][0]["trainable"] is False
    from fedadmet.federated.task import PartnerData

    with pytest.raises(PreparedDataError, match="no task that meets the quorum"):
        PartnerData.load(tmp_path / "p")


def _one_measurement() -> Measurements:
    frame = {"compound_id": ["a"], "smiles": ["CCO"], "form": ["CCO"], "endpoint": ["AMES"], "relation": [0]}
    return Measurements(pd.DataFrame(frame | {"value": [1.0]}), [])


def test_wrong_reference_hash_stops_preparation(tmp_path: Path) -> None:
    with pytest.raises(PreparedDataError, match="reference-set hash differs"):
        prepare_partner(
            _one_measurement(),
            TEST_KEY,
            tmp_path / "p",
            "x",
            ConsortiumConfig(reference_size=20),
            expected_reference_hash="0" * 64,
            cache_dir=tmp_path,
        )
    assert not (tmp_path / "p").exists(), "nothing is written when the key check fails"


def test_malformed_or_altered_folders_are_refused(partner_dirs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(PreparedDataError, match=r"manifest\.json missing"):
        read_manifest(tmp_path)
    with pytest.raises(PreparedDataError, match=r"no folder .*nowhere"):
        read_manifest(tmp_path / "nowhere")
    copy = shutil.copytree(partner_dirs[0], tmp_path / "copy")
    folder_key = json.loads((copy / "manifest.json").read_text())["key_id"]
    other_key = rf"another consortium key \(id {folder_key}\) than the one given \(id 0{{16}}\)"
    with pytest.raises(PreparedDataError, match=other_key):
        read_manifest(copy, "0000000000000000")
    (copy / "compounds.csv").write_text("tampered\n")
    with pytest.raises(PreparedDataError, match="changed after preparation"):
        read_manifest(copy)
    (copy / "labels.npz").unlink()
    with pytest.raises(PreparedDataError, match=r"labels\.npz missing"):
        read_manifest(copy)
    (copy / "manifest.json").write_text("{not json")
    with pytest.raises(PreparedDataError, match="not valid JSON"):
        read_manifest(copy)
    (copy / "manifest.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(PreparedDataError, match="format 99"):
        read_manifest(copy)


def test_a_wrong_or_shortened_reference_hash_stops_before_the_partner_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ConsortiumConfig(reference_size=20)
    _, reference_hash = keyed_features(["CCO"], TEST_KEY, config, tmp_path)
    featurised: list[list[str]] = []
    real = prepare_module.compute_features

    def counting(forms: list[str], *args: object, **kwargs: object) -> np.ndarray:
        featurised.append(list(forms))
        return real(forms, *args, **kwargs)

    monkeypatch.setattr(prepare_module, "compute_features", counting)
    with pytest.raises(PreparedDataError, match="shortened: give all 64 characters"):
        keyed_features(["CCN", "CCC"], TEST_KEY, config, tmp_path, expected_reference_hash=reference_hash[:16] + "…")
    assert featurised == [list(prepare_module.reference_set(20))], "only the reference set was featurised"
    # Pasted with a newline or in capitals, the whole hash is accepted.
    _, again = keyed_features(
        ["CCN"], TEST_KEY, config, tmp_path, expected_reference_hash=f" {reference_hash.upper()}\n"
    )
    assert again == reference_hash


def test_a_blank_padded_or_multi_line_partner_name_is_refused(tmp_path: Path) -> None:
    for blank in ("", "  "):
        with pytest.raises(InputError, match="partner name is empty"):
            prepare_partner(_one_measurement(), TEST_KEY, tmp_path / "p", blank, cache_dir=tmp_path)
    with pytest.raises(InputError, match="holds a tab or line break"):  # names are one line in every listing
        prepare_partner(_one_measurement(), TEST_KEY, tmp_path / "p", "Site:\nBasel", cache_dir=tmp_path)
    with pytest.raises(InputError, match="ends with a space"):  # partners' API keys must match it exactly
        prepare_partner(_one_measurement(), TEST_KEY, tmp_path / "p", "site_basel ", cache_dir=tmp_path)
    assert not (tmp_path / "p").exists()


def test_errors_and_rejected_rows_name_their_input_file(tmp_path: Path) -> None:
    header = "compound_id,smiles,endpoint,relation,value,unit\n"
    good = "".join(f"g{i},{'C' * (i + 1)}O,AMES,=,{i % 2},\n" for i in range(6))
    (tmp_path / "a.csv").write_text(header + good)
    (tmp_path / "b.csv").write_text(header + "b1,CCN,AMES,=,1,\nb2,not_a_smiles,AMES,=,0,\n")
    (tmp_path / "bad.csv").write_text(header + "x1,CCS,AMES,=,1,\nx2,CCCS,hERG,=,2,\n")
    with pytest.raises(InputError, match=r"^bad\.csv: hERG is a yes/no endpoint but data row 2 holds 2"):
        load_partner_inputs([tmp_path / "a.csv", tmp_path / "bad.csv"])
    measurements = load_partner_inputs([tmp_path / "a.csv", tmp_path / "b.csv"])
    assert len(measurements.frame) == 7
    assert [(row, reason.split(":")[0]) for row, reason in measurements.rejects] == [(1, "b.csv")]
    prepare_partner(
        measurements, TEST_KEY, tmp_path / "p", "p", ConsortiumConfig(reference_size=20), cache_dir=tmp_path
    )
    assert "| 2 | b.csv: " in (tmp_path / "p" / "qc.md").read_text()


def test_a_prepared_folder_is_prepared_again_only_with_force_and_for_its_partner(tmp_path: Path) -> None:
    """Its kept models were trained on its labels: preparing it again makes them unusable, and another
    partner's data would have them named after the wrong partner."""
    config = ConsortiumConfig(reference_size=20)
    prepare_partner(_one_measurement(), TEST_KEY, tmp_path / "p", "site_a", config, cache_dir=tmp_path)
    manifest = (tmp_path / "p" / "manifest.json").read_text()
    with pytest.raises(InputError, match=r"prepared already.*--force"):
        prepare_partner(_one_measurement(), TEST_KEY, tmp_path / "p", "site_a", config, cache_dir=tmp_path)
    with pytest.raises(InputError, match="holds partner 'site_a'"):
        prepare_partner(
            _one_measurement(), TEST_KEY, tmp_path / "p", "site_b", config, cache_dir=tmp_path, overwrite=True
        )
    assert (tmp_path / "p" / "manifest.json").read_text() == manifest  # untouched by the refusals
    prepare_partner(_one_measurement(), TEST_KEY, tmp_path / "p", "site_a", config, cache_dir=tmp_path, overwrite=True)


def test_an_endpoint_named_for_no_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bbb.csv").write_text("Drug_ID,Drug,Y\na,CCO,1\n")
    with pytest.raises(InputError, match="more --endpoint values than TDC-style files: AMES named no file"):
        load_partner_inputs([tmp_path / "bbb.csv"], ["BBB_Martins", "AMES"])


def test_acyclic_compounds_spread_over_the_keyed_folds() -> None:
    """The user test: every acyclic compound shares the empty scaffold, so one fold got 354 of 682
    compounds. An acyclic compound is its own group; ring compounds still keep their scaffold together."""
    from fedadmet.chem.scaffolds import fold_group

    acyclic = [f"C{'C' * n}{end}" for n in range(20) for end in ("O", "N", "C(=O)O", "Cl")]
    folds = np.bincount([keyed_fold(TEST_KEY, fold_group(s), 5) for s in acyclic], minlength=5)
    assert folds.min() >= 0.1 * len(acyclic) and folds.max() <= 0.35 * len(acyclic), folds
    assert fold_group("CCc1ccccc1") == fold_group("OCc1ccccc1") == "c1ccccc1"
    assert fold_group("CCO") == fold_group("OCC") != fold_group("CCN")  # the same compound, the same fold


def test_labels_outside_an_endpoints_range_are_refused_before_featurising(tmp_path: Path) -> None:
    """The user test: 0/1 labels were accepted as Caco-2 permeability (log10 cm/s, about -8 to -4)."""
    from fedadmet.data.catalogue import get_endpoint
    from tests.fl.partners import partner_measurements

    frame = partner_measurements(1)[0].frame
    yes_no = frame[frame["endpoint"] == "BBB_Martins"].assign(endpoint="Caco2_Wang")
    assert "outside this endpoint's range -8 to -3" in str(get_endpoint("Caco2_Wang").label_problem(yes_no["value"]))
    with pytest.raises(InputError, match=r"Caco2_Wang: .* outside this endpoint's range"):
        prepare_partner(Measurements(yes_no.reset_index(drop=True), []), TEST_KEY, tmp_path / "out", "p")
    assert not (tmp_path / "out" / "features.npy").exists()
    assert get_endpoint("Caco2_Wang").label_problem(np.array([-5.2, -6.1, -4.4])) is None
    # Served values stop at AstraZeneca's assay limits, but a partner's own assay may measure beyond them.
    assert get_endpoint("Lipophilicity_AstraZeneca").label_problem(np.array([5.2, -2.0])) is None
    assert get_endpoint("Clearance_Microsome_AZ").label_problem(np.array([1.0, 400.0])) is None
