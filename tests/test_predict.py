from pathlib import Path

import numpy as np
import pandas as pd

from fedadmet.inference import ALERTS_COLUMN, DOMAIN_COLUMN, ERROR_COLUMN, predict

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


def test_profile_columns_follow_the_catalogue(tiny_model_dir: Path) -> None:
    result = predict(["CCO"], model=tiny_model_dir)
    for name in ("hERG", "Caco2_Wang"):
        assert name in result and f"{name}_uncertainty" in result
    assert {DOMAIN_COLUMN, ALERTS_COLUMN, ERROR_COLUMN} <= set(result.columns)


def test_alerts_are_reported_by_name(tiny_model_dir: Path) -> None:
    result = predict(["O=C1C=CC(=O)C=C1"], model=tiny_model_dir)
    assert "PAINS:quinone_A(370)" in result.loc[0, ALERTS_COLUMN]


def test_dataframe_input_keeps_its_columns(tiny_model_dir: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "SMILES": ["CCO", "CCN"]})
    result = predict(frame, model=tiny_model_dir)
    assert result["id"].tolist() == ["a", "b"]
    assert result["smiles"].tolist() == ["CCO", "CCN"]


def test_regression_values_are_in_source_units(tiny_model_dir: Path) -> None:
    caco2 = predict(["CCO", "CC(=O)Nc1ccc(O)cc1"], model=tiny_model_dir)["Caco2_Wang"]
    assert ((caco2 > -8) & (caco2 < -3)).all()  # log10(cm/s), as in the source data


def test_package_exposes_predict_lazily(tiny_model_dir: Path) -> None:
    import fedadmet

    assert fedadmet.predict is predict
    assert fedadmet.predict(["CCO"], model=tiny_model_dir)["hERG"].notna().all()
