"""Lab results for a campaign: a long table checked row by row (compound, column, relation, value, unit).

A bad row is rejected with its number and reason and the rest are kept: one typo must not cost a
plate of measurements. Units follow the platform's assay rules (catalogue endpoints are converted to
catalogue units; an assay column of the campaign must carry the unit its term declares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fedadmet.campaigns.objective import Objective
from fedadmet.chem.standardize import standardize_many
from fedadmet.data.assay import RELATIONS, find_unit, unit_key
from fedadmet.data.catalogue import find_endpoint
from fedadmet.exceptions import InputError

COLUMN_ALIASES = ("column", "endpoint", "assay")


@dataclass(frozen=True)
class Reject:
    row: int  # 1-based data row, as a person counts them
    reason: str


@dataclass(frozen=True)
class Results:
    """Accepted rows (``compound_id, column, relation, value, unit, row``; values in the column's units)."""

    accepted: pd.DataFrame
    rejects: list[Reject]


def parse_results(raw: pd.DataFrame, source: str, objective: Objective, pool: dict[str, str]) -> Results:
    """Check every row of ``raw`` against the objective's columns and the pool (compound id → parent SMILES)."""
    column_field = next((name for name in COLUMN_ALIASES if name in raw.columns), None)
    missing = [name for name in ("compound_id", "value") if name not in raw.columns]
    if missing or column_field is None:
        raise InputError(
            f"{source} is not a results table",
            got=list(raw.columns),
            expected="columns compound_id, endpoint (or column), value, and optionally smiles, relation, unit",
        )
    terms = {term.column: term for term in objective.terms}
    smiles = raw["smiles"].tolist() if "smiles" in raw.columns else [None] * len(raw)
    parents = standardize_many([s for s in smiles if isinstance(s, str) and s.strip()]).smiles
    parent_of = dict(zip([s for s in smiles if isinstance(s, str) and s.strip()], parents, strict=True))
    accepted, rejects = [], []
    for i, record in enumerate(raw.to_dict("records")):
        outcome = _check_row(record, column_field, terms, pool, parent_of)
        if isinstance(outcome, str):
            rejects.append(Reject(i + 1, outcome))
        else:
            accepted.append((*outcome, i + 1))
    frame = pd.DataFrame(accepted, columns=["compound_id", "column", "relation", "value", "unit", "row"])
    return Results(frame, rejects)


def _check_row(
    record: dict[str, object],
    column_field: str,
    terms: dict[str, object],
    pool: dict[str, str],
    parent_of: dict[str, str | None],
) -> tuple[str, str, int, float, str] | str:
    """The accepted row, or why it is rejected."""
    compound = _text(record.get("compound_id"))
    if compound not in pool:
        return f"compound {compound!r} is not in the campaign's pool"
    given = _text(record.get("smiles"))
    if given and parent_of.get(given) != pool[compound]:
        return f"its SMILES is not the structure of pool compound {compound!r}"
    column = _text(record.get(column_field))
    if column not in terms:
        return f"{column!r} is not a column of the campaign's objective ({sorted(terms)})"
    relation_text = _text(record.get("relation")) or "="
    value_text = _text(record.get("value"))
    for prefix in ("<=", ">=", "<", ">", "~"):
        if value_text.startswith(prefix):  # a censored value written in the value cell: "<0.1"
            relation_text, value_text = prefix, value_text[len(prefix) :].strip()
            break
    if relation_text not in RELATIONS:
        return f"unknown relation {relation_text!r} (expected =, <, >, <=, >=)"
    try:
        value = float(value_text)
    except ValueError:
        return f"value {value_text!r} is not a number"
    if not math.isfinite(value):
        return f"value {value_text!r} is not a finite number"
    unit = _text(record.get("unit"))
    relation = RELATIONS[relation_text]
    endpoint = find_endpoint(column)
    if endpoint is not None and not endpoint.is_classification:
        converter = find_unit(endpoint, unit)
        if converter is None:
            return f"unit {unit!r} is not one {endpoint.name} accepts"
        with np.errstate(divide="ignore", invalid="ignore"):
            converted = float(converter.convert(np.array([value]), np.array([np.nan]))[0])
        if not math.isfinite(converted):
            return f"value {value:g} {unit} cannot be converted (e.g. a log of a non-positive number or a mass unit)"
        return compound, column, -relation if converter.reverses_order else relation, converted, endpoint.unit
    expected = terms[column].unit  # type: ignore[attr-defined]
    if unit_key(unit) != unit_key(expected):
        return f"unit {unit!r} for {column}; the campaign records it in {expected!r}"
    return compound, column, relation, value, expected


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def aggregate(measurements: pd.DataFrame, objective: Objective) -> pd.DataFrame:
    """One value per compound and column on the model scale: the mean of exact replicates; with only
    censored ones, the tightest bound, marked in ``censored`` (+1: the true value lies above it, -1:
    below, 0: exact), which the round's fit honours (see :func:`fedadmet.campaigns.engine.propose`)."""
    terms = {term.column: term for term in objective.terms}
    rows = []
    for (compound, column), group in measurements.groupby(["compound_id", "column"], sort=False):
        if column not in terms:
            continue
        scaled = terms[column].to_model_scale(group["value"].to_numpy(dtype=float))
        relation = group["relation"].to_numpy()
        if (relation == 0).any():
            value, censored = float(scaled[relation == 0].mean()), 0
        elif (relation < 0).all():
            value, censored = float(scaled.min()), -1
        elif (relation > 0).all():
            value, censored = float(scaled.max()), 1
        else:
            continue  # only "<" and ">" bounds that disagree: nothing usable
        rows.append((compound, column, value, censored))
    return pd.DataFrame(rows, columns=["compound_id", "column", "scaled", "censored"])
