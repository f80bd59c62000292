"""The OMOP reader: a malformed table gives a typed error naming the table and the row; GiBleed reads."""

from pathlib import Path

import pytest
from sqlalchemy import text

from fedadmet.clinical import synthetic
from fedadmet.clinical.omop import OmopTableError, open_cdm, read_cdm, write_cdm
from fedadmet.workflows import clinical


def _small_cdm(path: Path) -> Path:
    tables = synthetic.generate(synthetic.SyntheticSpec(n_patients=40, n_hospitals=1, seed=1))["hospital_a"]
    engine = open_cdm(path, read_only=False)
    write_cdm(engine, tables)
    engine.dispose()
    return path


def _alter(path: Path, statement: str) -> None:
    engine = open_cdm(path, read_only=False)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


def _first_id(path: Path, query: str) -> int:
    engine = open_cdm(path)
    with engine.connect() as connection:
        value = int(connection.execute(text(query)).scalar_one())
    engine.dispose()
    return value


def test_a_well_formed_cdm_reads(tmp_path: Path) -> None:
    cdm = read_cdm(open_cdm(_small_cdm(tmp_path / "cdm.duckdb")))
    assert len(cdm.person) >= 40
    assert cdm.drug_exposure["drug_exposure_start_date"].dtype.kind == "M"


def test_a_missing_required_column_names_the_table_and_column(tmp_path: Path) -> None:
    path = _small_cdm(tmp_path / "cdm.duckdb")
    _alter(path, "ALTER TABLE drug_exposure DROP COLUMN drug_exposure_end_date")
    with pytest.raises(OmopTableError) as caught:
        read_cdm(open_cdm(path))
    assert (caught.value.table, caught.value.column) == ("drug_exposure", "drug_exposure_end_date")


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    path = _small_cdm(tmp_path / "cdm.duckdb")
    _alter(path, "DROP TABLE measurement")
    with pytest.raises(OmopTableError) as caught:
        read_cdm(open_cdm(path))
    assert caught.value.table == "measurement"


def test_an_unknown_concept_names_the_table_and_row(tmp_path: Path) -> None:
    path = _small_cdm(tmp_path / "cdm.duckdb")
    row = _first_id(path, "SELECT max(condition_occurrence_id) FROM condition_occurrence")
    _alter(
        path, f"UPDATE condition_occurrence SET condition_concept_id = 123456789 WHERE condition_occurrence_id = {row}"
    )
    with pytest.raises(OmopTableError) as caught:
        read_cdm(open_cdm(path))
    assert (caught.value.table, caught.value.row, caught.value.column) == (
        "condition_occurrence",
        row,
        "condition_concept_id",
    )
    assert str(row) in str(caught.value)


def test_dates_out_of_order_name_the_table_and_row(tmp_path: Path) -> None:
    path = _small_cdm(tmp_path / "cdm.duckdb")
    row = _first_id(path, "SELECT min(drug_exposure_id) FROM drug_exposure")
    _alter(
        path,
        "UPDATE drug_exposure SET drug_exposure_end_date = drug_exposure_start_date - INTERVAL 3 DAY "
        f"WHERE drug_exposure_id = {row}",
    )
    with pytest.raises(OmopTableError) as caught:
        read_cdm(open_cdm(path))
    assert (caught.value.table, caught.value.row) == ("drug_exposure", row)


def test_gibleed_ships_offline_and_gives_a_celecoxib_cohort() -> None:
    sites = clinical.extract_sites([None], clinical.gibleed_study())
    cohort = sites[0].cohort
    assert 1000 < len(cohort) < 2694
    assert 0.05 < cohort["outcome"].mean() < 0.5
    assert cohort["person_id"].is_unique
