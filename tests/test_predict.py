import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

import fedadmet.chem.parallel as parallel
from fedadmet.chem.alerts import structural_alerts_many
from fedadmet.config import get_settings
from fedadmet.data.catalogue import get_endpoint
from fedadmet.data.public import bundled_path, served_training_frames
from fedadmet.data.splits import split_for_validation
from fedadmet.inference import (
    ALERTS_COLUMN,
    BUNDLED_MODEL,
    DOMAIN_COLUMN,
    ERROR_COLUMN,
    STANDARDISATION_COLUMN,
    load_model,
    predict,
)
from fedadmet.models.labels import by_featurised_molecule
from fedadmet.workflows.profiling import profile, summarise
from tests.spy_pool import SpyPool

INPUTS = ["CCO", "not a smiles", "", "O=C1C=CC(=O)C=C1", "C" * 500, "c1ccccc1C(=O)O"]


def test_every_input_row_is_kept_in_order_with_errors_for_rejects(tiny_model_dir: Path) -> None:
    result = predict(INPUTS, model=tiny_model_dir)
    assert len(result) == len(INPUTS)
    assert result["input_smiles"].tolist() == INPUTS
    bad = result[ERROR_COLUMN].notna().to_numpy()
    np.testing.assert_array_equal(bad, [False, True, True, False, True, False])
    assert result.loc[bad, "hERG"].isna().all()
    assert result.loc[~bad, "hERG"].notna().all()
    assert "heavy atoms" in result.loc[4, ERROR_COLUMN]


# The same compound as the free acid or base, its ion, a salt, and a radiolabelled or deuterated isotopologue.
SAME_COMPOUND = {
    "ibuprofen": ["CC(C)Cc1ccc(C(C)C(=O)O)cc1", "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1", "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]"],
    "sertraline": ["CN[C@H]1CC[C@@H](c2ccc(Cl)c(Cl)c2)c2ccccc21", "CN[C@H]1CC[C@@H](c2ccc(Cl)c(Cl)c2)c2ccccc21.Cl"],
    "nicotine": ["CN1CCC[C@H]1c1cccnc1", "[2H]C([2H])([2H])N1CCC[C@H]1c1cccnc1"],
    "urea": ["NC(N)=O", "N[14C](N)=O"],
}


@pytest.mark.parametrize("name", sorted(SAME_COMPOUND))
def test_salt_ion_and_isotopologue_get_the_parent_profile(tiny_model_dir: Path, name: str) -> None:
    result = predict(SAME_COMPOUND[name], model=tiny_model_dir)
    assert result["smiles"].nunique() == 1 and result[ERROR_COLUMN].isna().all()
    predicted = result.drop(columns=["input_smiles", "smiles", STANDARDISATION_COLUMN, ERROR_COLUMN])
    for row in range(1, len(result)):
        pd.testing.assert_series_equal(predicted.iloc[row], predicted.iloc[0], check_names=False)
    assert result.loc[1:, STANDARDISATION_COLUMN].str.len().gt(0).all()  # the caveat: what was drawn differs


def test_the_bundled_model_knows_its_training_drugs_and_keeps_to_physical_ranges() -> None:
    """The user test's drugs on the served model: where one trained an endpoint's heads it scores 1 for it
    (diazepam, carbamazepine and paracetamol scored 0.47-0.67 against a random sample before; one held out
    to calibrate scores like any molecule), and no value or interval leaves its endpoint's range (VDss
    reached 6.1e5 L/kg, LD50 -4.8)."""
    drugs = ["CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21", "NC(=O)N1c2ccccc2C=Cc2ccccc21", "CC(=O)Nc1ccc(O)cc1"]
    result = predict([*drugs, "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1.[Na+]", "C" * 60], model=BUNDLED_MODEL)
    names = ("HIA_Hou", "BBB_Martins", "Solubility_AqSolDB", "PPBR_AZ", "LD50_Zhu", "ClinTox")
    model = load_model(BUNDLED_MODEL)
    training, _ = split_for_validation(served_training_frames(names).frames, model.metadata["valid_fraction"], 0)
    training = by_featurised_molecule(training)  # the drugs are drawn neutral: solubility knows them so only
    trained = 0
    for name in names:
        for row, parent in enumerate(result.loc[:2, "smiles"]):
            if parent in set(training[name]["smiles"]):  # else held out to calibrate: scored like any molecule
                assert result.loc[row, f"{name}_domain"] == 1.0, (name, parent)
                trained += 1
        assert result.loc[:2, f"{name}_in_domain"].all(), name
    assert trained >= 15  # of 18 pairs: the test means something
    assert result.loc[:2, "in_domain"].all()
    for name in load_model(BUNDLED_MODEL).endpoints:
        endpoint = get_endpoint(name)
        if not endpoint.is_classification:
            low, high = endpoint.value_range
            values = result[[name, f"{name}_lower", f"{name}_upper"]].to_numpy()
            assert ((values >= low) & (values <= high)).all(), name


def test_the_bundled_model_does_not_call_approved_drugs_clinical_failures() -> None:
    """ClinTox stores approved drugs as ions and failures mostly neutral: a model trained on the forms as given
    learned charge state and called 22 % of approved drugs likely failures (aspirin 0.81, ibuprofen 0.70).
    Trained on standardised parents, an approved drug scores as one."""
    drugs = pd.read_csv(bundled_path("examples", "drugbank_approved.csv.gz"))["smiles"].dropna().head(400).tolist()
    result = predict(["CC(=O)Oc1ccccc1C(=O)O", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", *drugs], model=BUNDLED_MODEL)
    assert (result.loc[:1, "ClinTox"] < 0.2).all()  # aspirin, ibuprofen
    assert (result.loc[2:, "ClinTox"] > 0.5).mean() < 0.05


def test_profile_columns_follow_the_catalogue(tiny_model_dir: Path) -> None:
    result = predict(["CCO"], model=tiny_model_dir)
    for name in ("hERG", "Caco2_Wang"):
        assert name in result and f"{name}_uncertainty" in result
    assert {DOMAIN_COLUMN, ALERTS_COLUMN, ERROR_COLUMN} <= set(result.columns)


def test_every_profile_has_the_parents_properties_and_the_rules_with_what_broke_them(tiny_model_dir: Path) -> None:
    tristearin_like = "CCCCCCCCCCCCCCCCCC(=O)OCC(O)COC(=O)CCCCCCCCCCCCCCCCC"
    result = predict(["[Na+].[O-]C(=O)c1ccccc1", tristearin_like, "C1CC"], model=tiny_model_dir)
    salt, fat, broken = (result.iloc[i] for i in range(3))
    assert salt["molecular_weight"] == pytest.approx(122.123) and salt["formal_charge"] == 0  # benzoic acid, the parent
    assert salt["Lipinski"] and salt["Lipinski_violations"] == ""
    assert not salt["Golden_Triangle"] and salt["Golden_Triangle_violations"] == "MW 122.1 < 200"
    assert not fat["Lipinski"] and fat["Lipinski_violations"] == "MW 625 > 500; cLogP 11.96 > 5"
    assert not fat["Veber"] and "RotB 36 > 10" in fat["Veber_violations"]
    assert pd.isna(broken["Lipinski"]) and np.isnan(broken["QED"])  # no structure, no verdict
    assert result["Lipinski"].dtype == "boolean"


def test_alerts_are_reported_by_name(tiny_model_dir: Path) -> None:
    result = predict(["O=C1C=CC(=O)C=C1"], model=tiny_model_dir)
    assert "PAINS:quinone_A(370)" in result.loc[0, ALERTS_COLUMN]


def test_dataframe_input_keeps_its_columns(tiny_model_dir: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "SMILES": ["CCO", "CCN"]})
    result = predict(frame, model=tiny_model_dir)
    assert result["id"].tolist() == ["a", "b"]
    assert result["smiles"].tolist() == ["CCO", "CCN"]
    # The input SMILES beside the output smiles would read as one column twice: it is kept aside by name.
    assert "SMILES" not in result.columns and result["input_SMILES"].tolist() == ["CCO", "CCN"]


def test_input_columns_named_like_outputs_are_kept_aside(tiny_model_dir: Path) -> None:
    frame = pd.DataFrame({"smiles": ["[Na+].CC(=O)[O-]", "C1CC("], "hERG": [1.5, 2.5], "error": ["x", "y"]})
    result = predict(frame, model=tiny_model_dir)
    assert result["input_smiles"].tolist() == ["[Na+].CC(=O)[O-]", "C1CC("]  # the input form, not the parent
    assert result["smiles"].tolist()[0] == "CC(=O)O"
    assert result["input_hERG"].tolist() == [1.5, 2.5]  # measured values, not overwritten by predictions
    assert result["input_error"].tolist() == ["x", "y"]
    assert result["hERG"].notna().tolist() == [True, False]


def test_one_smiles_string_is_one_molecule(tiny_model_dir: Path) -> None:
    result = predict("CCO", model=tiny_model_dir)
    assert result["input_smiles"].tolist() == ["CCO"]


def test_file_path_input_reads_the_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "molecules.csv"
    pd.DataFrame({"id": ["a", "b"], "Drug": ["CCO", "CCN"]}).to_csv(path, index=False)
    result = predict(path, model=tiny_model_dir)
    assert result[["id", "Drug", "smiles"]].to_numpy().tolist() == [["a", "CCO", "CCO"], ["b", "CCN", "CCN"]]


def test_regression_values_are_in_source_units(tiny_model_dir: Path) -> None:
    caco2 = predict(["CCO", "CC(=O)Nc1ccc(O)cc1"], model=tiny_model_dir)["Caco2_Wang"]
    assert ((caco2 > -8) & (caco2 < -3)).all()  # log10(cm/s), as in the source data


def test_package_exposes_predict_lazily(tiny_model_dir: Path) -> None:
    import fedadmet

    assert fedadmet.predict is predict
    assert fedadmet.predict(["CCO"], model=tiny_model_dir)["hERG"].notna().all()


def test_chunked_parallel_profile_equals_molecule_by_molecule(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-pass chemistry in worker processes, chunk by chunk, gives every row exactly what each
    molecule gets alone: the model's own prediction from its features, and the alerts of its parent."""
    molecules = [*INPUTS, "CC(=O)Cl", "CCO", None, "[Na+].[O-]C(=O)c1ccccc1", "CSSC"] * 2
    model = load_model(tiny_model_dir)
    alone = pd.concat([predict([value], model=model) for value in molecules], ignore_index=True)
    monkeypatch.setenv("FEDADMET_PARALLEL_THRESHOLD", "2")
    monkeypatch.setenv("FEDADMET_N_JOBS", "2")
    monkeypatch.setattr(parallel, "_CHUNK", 3)  # chunks split duplicates and rejects across workers
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", SpyPool)
    SpyPool.created = 0
    get_settings.cache_clear()
    together = predict(molecules, model=model)
    assert SpyPool.created == 1, "the parallel path was not taken"

    def plain(frame: pd.DataFrame) -> pd.DataFrame:  # pandas types a lone None apart from None among strings
        return frame.astype(object).where(frame.notna(), None)

    pd.testing.assert_frame_equal(plain(together), plain(alone))
    valid = together[ERROR_COLUMN].isna().to_numpy()
    expected = model.predict_smiles(together.loc[valid, "smiles"].tolist())  # the parents, salt or not
    # float32 products of different batch shapes may differ in the last bits
    np.testing.assert_allclose(together.loc[valid, "hERG"], expected.values["hERG"], rtol=1e-5)
    parents = together.loc[valid, "smiles"].tolist()
    assert together.loc[valid, ALERTS_COLUMN].tolist() == ["; ".join(hits) for hits in structural_alerts_many(parents)]


def test_progress_bar_only_when_asked(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = ["CCO"] + [f"not-a-molecule-{i}" for i in range(600)]  # large enough for a bar, cheap to reject
    predict(texts, model=tiny_model_dir, progress=False)
    assert "profile" not in capsys.readouterr().err
    predict(texts, model=tiny_model_dir, progress=True)
    assert "profile" in capsys.readouterr().err


def test_values_are_reported_within_the_endpoints_physical_range(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    import fedadmet.inference as inference

    real = inference.get_endpoint
    narrow = dataclasses.replace(real("Caco2_Wang"), value_range=(-5.2, -5.1))
    monkeypatch.setattr(inference, "get_endpoint", lambda name: narrow if name == "Caco2_Wang" else real(name))
    result = predict(["CCO", "CC(=O)Nc1ccc(O)cc1", "c1ccccc1C(=O)O"], model=tiny_model_dir)
    for column in ("Caco2_Wang", "Caco2_Wang_lower", "Caco2_Wang_upper"):
        assert result[column].between(-5.2, -5.1).all(), column
    # the interval is around the reported (clipped) value
    lower, _ = narrow.interval(result["Caco2_Wang"], result["Caco2_Wang_uncertainty"])
    np.testing.assert_allclose(result["Caco2_Wang_lower"], lower)


def test_regression_intervals_are_given_in_the_values_unit(tiny_model_dir: Path) -> None:
    result = predict(["CCO", "CC(=O)Nc1ccc(O)cc1"], model=tiny_model_dir)
    assert "hERG_lower" not in result  # a classifier's uncertainty is the chance of a wrong call
    caco2 = result["Caco2_Wang"]
    np.testing.assert_allclose(result["Caco2_Wang_upper"] - caco2, result["Caco2_Wang_uncertainty"])
    np.testing.assert_allclose(caco2 - result["Caco2_Wang_lower"], result["Caco2_Wang_uncertainty"])


def test_fragments_with_dummy_atoms_and_carbon_free_structures_are_refused(tiny_model_dir: Path) -> None:
    # cisplatin as PubChem-style sources write it: the ammonia must not be profiled as "the molecule"
    molecules = ["*CCO", "[*:1]c1ccccc1", "[Na+].[Cl-]", "N.N.Cl[Pt]Cl", "CCO", "Cl[Al](Cl)Cl", "O"]
    result = predict(molecules, model=tiny_model_dir)
    errors = result[ERROR_COLUMN].fillna("")
    assert errors.str.contains("dummy atoms").tolist() == [True, True, False, False, False, False, False]
    assert (
        errors.str.contains("no fragment with carbon: inorganic").tolist()
        == [False] * 2 + [True] * 2 + [False] + [True] * 2
    )
    assert result["hERG"].notna().tolist() == [False, False, False, False, True, False, False]


def test_organometallics_written_as_ions_are_refused_saying_so(tiny_model_dir: Path) -> None:
    ferrocene = predict(["[cH-]1cccc1.[cH-]1cccc1.[Fe+2]"], model=tiny_model_dir)[ERROR_COLUMN].iloc[0]
    assert "cannot be read back by RDKit" in ferrocene and "organometallics written as ions" in ferrocene


def test_salts_whose_only_carbon_is_inorganic_are_refused(tiny_model_dir: Path) -> None:
    # lithium carbonate, sodium bicarbonate, potassium cyanide, isocyanate and thiocyanate, calcium carbide,
    # sodium acetylide, aluminium carbide, carbon-13 dioxide; then urea, acetylene, acetonitrile, a carbonate
    # salt beside an organic parent and a platinum drug, which are profiled
    salts = ["[Li+].[Li+].[O-]C([O-])=O", "[Na+].OC([O-])=O", "[K+].[C-]#N", "[K+].[N-]=C=O", "[K+].[S-]C#N"]
    salts += ["[Ca+2].[C-]#[C-]", "[Na+].[C-]#C", "[Al+3].[Al+3].[Al+3].[Al+3].[C-4].[C-4].[C-4]", "O=[13C]=O"]
    # ... and as PubChem often writes them, bonded to the metal: silver cyanide, calcium carbonate, nickel carbonyl
    salts += ["C(#N)[Ag]", "[Ca]1OC(=O)O1", "O=C=[Ni](=C=O)(=C=O)=C=O"]
    organic = ["NC(N)=O", "C#C", "CC#N", "[Na+].[Na+].[O-]C([O-])=O.CCO", "N.N.O=C1O[Pt]OC(=O)C12CCC2"]  # carboplatin
    result = predict([*salts, *organic], model=tiny_model_dir)
    refused = result[ERROR_COLUMN].fillna("").str.contains("only carbon is inorganic")
    assert refused.tolist() == [True] * len(salts) + [False] * len(organic)
    assert result["hERG"].notna().tolist() == [False] * len(salts) + [True] * len(organic)


def test_input_index_is_kept_and_in_domain_is_a_usable_mask(tiny_model_dir: Path) -> None:
    frame = pd.DataFrame({"smiles": ["CCO", "C1CC", "c1ccccc1O"]}, index=["cpd-17", "cpd-42", "cpd-99"])
    result = predict(frame, model=tiny_model_dir)
    assert result.index.tolist() == ["cpd-17", "cpd-42", "cpd-99"]
    assert frame.join(result[["hERG"]])["hERG"].notna().tolist() == [True, False, True]
    assert predict(pd.Series(["CCO", "CCN"], index=[5, 7]), model=tiny_model_dir).index.tolist() == [5, 7]
    assert str(result["in_domain"].dtype) == "boolean"
    assert set(result[result["in_domain"]].index) <= {"cpd-17", "cpd-99"}  # a failed row is never selected
    with pytest.raises(TypeError, match="bytes"):
        predict(b"CCO", model=tiny_model_dir)
    for nothing_to_read in (None, 42):
        with pytest.raises(TypeError, match="must be a SMILES, a sequence of SMILES, a DataFrame or a pathlib"):
            predict(nothing_to_read, model=tiny_model_dir)  # type: ignore[arg-type]


def test_a_model_retrained_into_the_same_folder_is_not_served_stale(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    first = load_model(folder)
    assert load_model(folder) is first
    card = folder / "model.json"
    card.write_text(card.read_text())  # a retraining writes a new model.json
    os.utime(card, ns=(card.stat().st_atime_ns, card.stat().st_mtime_ns + 1_000_000))
    assert load_model(folder) is not first


def test_unreadable_sd_records_report_their_own_reason(tiny_model_dir: Path, tmp_path: Path) -> None:
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO"))
    bad = good.replace(" O ", " Xx", 1)
    path = tmp_path / "two.sdf"
    path.write_text(f"{good}>  <id>\nA-1\n\n$$$$\n{bad}>  <id>\nA-2\n\n$$$$\n")
    result = predict(path, model=tiny_model_dir)
    assert result["id"].tolist() == ["A-1", "A-2"]
    assert "SD record 2 could not be read" in result.loc[1, ERROR_COLUMN]


def test_sd_records_are_profiled_with_their_names_fields_and_parents(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    for name, smiles, value in [
        ("ethanol", "CCO", "5.5"),
        ("phenol", "Oc1ccccc1", None),
        ("anilinium", "c1ccccc1[NH3+]", "7"),
    ]:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name)
        if value is not None:
            mol.SetProp("pIC50", value)
        writer.write(mol)
    writer.close()

    result = profile(path, predictor=tiny_model_dir)
    assert summarise(result).failures == []
    assert result["smiles"].tolist() == ["CCO", "Oc1ccccc1", "Nc1ccccc1"]
    np.testing.assert_array_equal(pd.to_numeric(result["pIC50"]).to_numpy(), [5.5, np.nan, 7.0])
    assert result["name"].tolist() == ["ethanol", "phenol", "anilinium"]


def test_an_sd_record_rdkit_cannot_read_is_a_failed_row_in_its_place(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "mols.sdf"
    writer = Chem.SDWriter(str(path))
    writer.write(Chem.MolFromSmiles("CCO"))
    broken = Chem.MolFromSmiles("CC(C)(C)(C)(C)C", sanitize=False)  # pentavalent carbon
    broken.SetProp("_Name", "pentaC")
    broken.SetProp("corp_id", "C-9")
    writer.write(broken)
    writer.write(Chem.MolFromSmiles("CCN"))
    writer.close()

    result = profile(path, predictor=tiny_model_dir)
    assert len(result) == 3
    assert result["smiles"].isna().tolist() == [False, True, False]
    [(row, reason)] = summarise(result).failures
    assert row == 2
    assert "SD record 2 could not be read by RDKit: Explicit valence" in reason
    assert result.loc[1, ["name", "corp_id"]].tolist() == ["pentaC", "C-9"]
    assert pd.isna(result.loc[1, "hERG"])


def test_each_row_says_what_standardisation_changed(tiny_model_dir: Path) -> None:
    result = predict(["CCN.Cl", "CCO", "C1CC", None, "[O-]C(=O)c1ccccc1"], model=tiny_model_dir)
    assert result[STANDARDISATION_COLUMN].tolist() == [
        "kept the largest organic fragment, removed Cl",
        "",
        "",
        "",
        "neutralised charges",
    ]
    assert result.columns.get_loc(STANDARDISATION_COLUMN) == result.columns.get_loc("smiles") + 1


def test_heavy_atom_limit_set_in_the_environment_reaches_the_python_api(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fedadmet.predict` is an edge: it reads FEDADMET_MAX_HEAVY_ATOMS and passes it to the chemistry."""
    import fedadmet

    monkeypatch.setenv("FEDADMET_MAX_HEAVY_ATOMS", "5")
    get_settings.cache_clear()
    result = fedadmet.predict(["CCCCC", "CCCCCC"], model=tiny_model_dir)
    assert pd.isna(result.loc[0, ERROR_COLUMN]) and pd.notna(result.loc[0, "hERG"])
    assert "6 heavy atoms" in result.loc[1, ERROR_COLUMN] and pd.isna(result.loc[1, "hERG"])


def test_a_radical_is_profiled_with_a_caveat(tiny_model_dir: Path) -> None:
    result = predict(["[CH3]", "C", "[Na+].[CH2]C(=O)[O-]"], model=tiny_model_dir)
    assert result[ERROR_COLUMN].isna().all()
    notes = result[STANDARDISATION_COLUMN].tolist()
    assert "radical (1 unpaired electron)" in notes[0] and notes[1] == ""
    assert "removed [Na+]" in notes[2] and "radical" in notes[2]  # beside what standardisation changed
