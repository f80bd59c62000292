"""Extraction on PostgreSQL gives the same cohort and covariates as on DuckDB (where
FEDADMET_TEST_POSTGRES_URL is set, as in CI; skipped otherwise)."""

import os
from pathlib import Path

import pandas as pd
import pytest

from fedadmet.clinical import synthetic
from fedadmet.clinical.omop import CDM, open_cdm, read_cdm, write_cdm
from fedadmet.clinical.study import extract
from fedadmet.workflows import clinical
from tests.clinical.conftest import DRUG_SCORES

POSTGRES_URL = os.environ.get("FEDADMET_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_url() -> str:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must run the clinical tests on PostgreSQL: .ci/run sets FEDADMET_TEST_POSTGRES_URL")
        pytest.skip("FEDADMET_TEST_POSTGRES_URL not set (see README: registry on PostgreSQL)")
    return POSTGRES_URL


def test_extraction_is_the_same_on_postgresql_and_duckdb(tmp_path: Path, postgres_url: str) -> None:
    tables = synthetic.generate(synthetic.SyntheticSpec(n_patients=300, n_hospitals=1, seed=5))["hospital_a"]
    duckdb_engine = open_cdm(tmp_path / "cdm.duckdb", read_only=False)
    postgres_engine = open_cdm(postgres_url, read_only=False)
    CDM.drop_all(postgres_engine)
    try:
        for engine in (duckdb_engine, postgres_engine):
            write_cdm(engine, tables)
        study = clinical.synthetic_study("cardiotoxicity", DRUG_SCORES)
        on_duckdb = extract(read_cdm(duckdb_engine), study)
        on_postgres = extract(read_cdm(postgres_engine), study)
    finally:
        CDM.drop_all(postgres_engine)
        postgres_engine.dispose()
        duckdb_engine.dispose()
    assert len(on_duckdb.cohort) > 100
    pd.testing.assert_frame_equal(on_postgres.cohort, on_duckdb.cohort)
    pd.testing.assert_frame_equal(on_postgres.covariates, on_duckdb.covariates)
