"""Partner assay data: long assay tables and TDC files turned into one labelled row per compound and endpoint.

A long assay table has one measurement per row (compound id, SMILES, endpoint, relation, value, unit),
the way pharma assay databases export. Values are converted to the endpoint's catalogue unit (a
unit we do not know is an error naming the row, never a silent guess), then replicates of the same
standardised compound are aggregated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import Descriptors

from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.standardize import MoleculeLimits
from fedadmet.data.catalogue import Endpoint, get_endpoint
from fedadmet.data.loaders import read_table, table_from_frame
from fedadmet.exceptions import InputError

ASSAY_COLUMNS = ("compound_id", "smiles", "endpoint", "relation", "value", "unit")
RELATIONS = {"=": 0, "~": 0, "<": -1, "<=": -1, ">": 1, ">=": 1}


@dataclass(frozen=True)
class Unit:
    """A unit an endpoint accepts: ``convert(values, molar_mass)`` gives catalogue units.

    ``reverses_order`` marks conversions that turn "<" into ">" (e.g. mg/kg → -log10(mol/kg)).
    """

    convert: Callable[[np.ndarray, np.ndarray], np.ndarray]
    reverses_order: bool = False


def _same(values: np.ndarray, _: np.ndarray) -> np.ndarray:
    return values


def _scaled(factor: float) -> Unit:
    return Unit(lambda v, _: v * factor)


def _log10_of(factor: float) -> Unit:
    return Unit(lambda v, _: np.log10(v * factor))


_IDENTITY = Unit(_same)
_CLASS_UNITS = {"": _IDENTITY, "binary": _IDENTITY, "active": _IDENTITY, "probability": _IDENTITY}

UNITS: dict[str, dict[str, Unit]] = {
    "Caco2_Wang": {
        "log10(cm/s)": _IDENTITY,
        "log(cm/s)": _IDENTITY,
        "cm/s": _log10_of(1.0),
        "1e-6 cm/s": _log10_of(1e-6),
        "10^-6 cm/s": _log10_of(1e-6),
        "nm/s": _log10_of(1e-7),
    },
    "Lipophilicity_AstraZeneca": {"logD7.4": _IDENTITY, "logD": _IDENTITY, "": _IDENTITY},
    "Solubility_AqSolDB": {
        "log10(mol/L)": _IDENTITY,
        "logS": _IDENTITY,
        "mol/L": _log10_of(1.0),
        "M": _log10_of(1.0),
        "mM": _log10_of(1e-3),
        "uM": _log10_of(1e-6),
        "µM": _log10_of(1e-6),
        "ug/mL": Unit(lambda v, mw: np.log10(v * 1e-3 / mw)),
        "mg/L": Unit(lambda v, mw: np.log10(v * 1e-3 / mw)),
    },
    "PPBR_AZ": {
        "% bound": _IDENTITY,
        "%": _IDENTITY,
        "fraction bound": _scaled(100.0),
        "% unbound": Unit(lambda v, _: 100.0 - v, reverses_order=True),
        "fraction unbound": Unit(lambda v, _: 100.0 * (1.0 - v), reverses_order=True),
    },
    "VDss_Lombardo": {"L/kg": _IDENTITY, "mL/kg": _scaled(1e-3)},
    "Half_Life_Obach": {
        "h": _IDENTITY,
        "hr": _IDENTITY,
        "min": _scaled(1 / 60),
        "s": _scaled(1 / 3600),
        "d": _scaled(24),
    },
    "Clearance_Hepatocyte_AZ": {
        "uL/min/10^6 cells": _IDENTITY,
        "µL/min/10^6 cells": _IDENTITY,
        "uL/min/1e6 cells": _IDENTITY,
        "mL/min/10^6 cells": _scaled(1e3),
    },
    "Clearance_Microsome_AZ": {"mL/min/g": _IDENTITY, "uL/min/g": _scaled(1e-3)},
    "LD50_Zhu": {
        "-log10(mol/kg)": _IDENTITY,
        "mol/kg": Unit(lambda v, _: -np.log10(v), reverses_order=True),
        "mmol/kg": Unit(lambda v, _: -np.log10(v * 1e-3), reverses_order=True),
        "mg/kg": Unit(lambda v, mw: -np.log10(v * 1e-3 / mw), reverses_order=True),
    },
}


def accepted_units(endpoint: Endpoint) -> dict[str, Unit]:
    if endpoint.is_classification:
        return _CLASS_UNITS
    return UNITS.get(endpoint.name, {endpoint.unit: _IDENTITY})


def unit_key(text: str) -> str:
    """Unit spellings that mean the same: spacing (``uL / min``), the Greek mu for the micro sign, and
    either case of the litre symbol (``ml``, ``mL``). Other letters keep their case: ``mM`` is not ``MM``."""
    compact = re.sub(r"\s*/\s*", "/", " ".join(text.split()))
    return compact.replace("\u03bc", "\u00b5").replace("L", "l")


def find_unit(endpoint: Endpoint, text: str) -> Unit | None:
    """The accepted unit ``text`` spells for ``endpoint``, if any."""
    return {unit_key(name): unit for name, unit in accepted_units(endpoint).items()}.get(unit_key(text))


@dataclass
class Measurements:
    """Standardised measurements in catalogue units: ``compound_id, smiles, form, endpoint, relation, value``
    (relation -1/0/+1 for </=/>), plus the input rows that were rejected and why."""

    frame: pd.DataFrame
    rejects: list[tuple[int, str]]


def load_assay_table(
    path: Path, *, limits: MoleculeLimits | None = None, parallel: ParallelOptions | None = None
) -> Measurements:
    """Read a long assay table; unknown endpoints, relations or units raise an error naming the row."""
    return assay_measurements(read_table(path), Path(path).name, limits=limits, parallel=parallel)


def assay_measurements(
    raw: pd.DataFrame, source: str, *, limits: MoleculeLimits | None = None, parallel: ParallelOptions | None = None
) -> Measurements:
    """:func:`load_assay_table` for a table already read (``source`` names it in errors)."""
    missing = [c for c in ASSAY_COLUMNS if c not in raw.columns and c != "compound_id"]
    if missing:
        raise InputError(f"{source} lacks assay-table column(s) {missing}", got=list(raw.columns))
    raw = raw.fillna({"relation": "=", "unit": ""})
    if "compound_id" not in raw.columns:
        raw["compound_id"] = [f"row{i + 1}" for i in range(len(raw))]
    table = table_from_frame(raw, "smiles", ["value"], source, limits=limits, parallel=parallel)
    relations = np.zeros(len(raw), dtype=np.int8)
    values = np.full(len(raw), np.nan)
    molar_mass = _molar_masses(table.frame["form"])
    no_endpoint = np.flatnonzero(raw["endpoint"].isna().to_numpy())
    if len(no_endpoint):
        raise InputError(f"data row {int(no_endpoint[0]) + 1} names no endpoint", expected="a catalogue endpoint name")
    for name, rows in raw.groupby("endpoint", sort=False).groups.items():
        try:
            endpoint = get_endpoint(str(name))
        except InputError as exc:
            raise InputError(f"data row {int(rows[0]) + 1}: {exc}") from None
        for unit_name, unit_rows in raw.loc[rows].groupby("unit", sort=False).groups.items():
            unit = find_unit(endpoint, str(unit_name))
            if unit is None:
                row = int(unit_rows[0])
                raise InputError(
                    f"unknown unit {unit_name!r} for {endpoint.name} on data row {row + 1}",
                    expected=f"one of {sorted(accepted_units(endpoint))}",
                )
            index = np.asarray(unit_rows)
            given = table.frame["value"].to_numpy()[index]
            with np.errstate(divide="ignore", invalid="ignore"):
                values[index] = unit.convert(given, molar_mass[index])
            relations[index] = _relations(raw["relation"].to_numpy()[index], index, unit.reverses_order)
        if endpoint.is_classification:
            _check_binary(values, relations, np.asarray(rows), endpoint)
    frame = pd.DataFrame(
        {
            "compound_id": raw["compound_id"].to_numpy(),
            "smiles": table.frame["smiles"].to_numpy(),
            "form": table.frame["form"].to_numpy(),
            "endpoint": [get_endpoint(str(e)).name for e in raw["endpoint"]],
            "relation": relations,
            "value": values,
        }
    )
    rejects = [(r.index, r.reason) for r in table.rejects]
    unusable = frame["smiles"].notna() & ~np.isfinite(frame["value"].to_numpy())
    rejects += [
        (int(i), "value missing or not convertible (e.g. log of a non-positive number)")
        for i in np.flatnonzero(unusable)
    ]
    keep = frame["smiles"].notna() & ~unusable
    return Measurements(frame[keep].reset_index(drop=True), sorted(rejects))


def measurements_from_tdc(
    path: Path, endpoint_name: str, *, limits: MoleculeLimits | None = None, parallel: ParallelOptions | None = None
) -> Measurements:
    """A TDC-style file (``Drug``, ``Y`` in catalogue units) as exact measurements of one endpoint."""
    return tdc_measurements(read_table(path), endpoint_name, Path(path).name, limits=limits, parallel=parallel)


def tdc_measurements(
    raw: pd.DataFrame,
    endpoint_name: str,
    source: str,
    *,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
) -> Measurements:
    """:func:`measurements_from_tdc` for a table already read (``source`` names it in errors)."""
    if not {"Drug", "Y"} <= set(raw.columns):
        raise InputError(f"{source} is not in TDC format", got=list(raw.columns), expected="Drug_ID,Drug,Y")
    table = table_from_frame(raw, "Drug", ["Y"], source, limits=limits, parallel=parallel)
    endpoint = get_endpoint(endpoint_name)
    ids = raw["Drug_ID"].to_numpy() if "Drug_ID" in raw.columns else [f"row{i + 1}" for i in range(len(raw))]
    frame = pd.DataFrame(
        {
            "compound_id": ids,
            "smiles": table.frame["smiles"].to_numpy(),
            "form": table.frame["form"].to_numpy(),
            "endpoint": endpoint.name,
            "relation": np.zeros(len(raw), dtype=np.int8),
            "value": table.frame["Y"].to_numpy(dtype=float),
        }
    )
    if endpoint.is_classification:
        _check_binary(frame["value"].to_numpy(), frame["relation"].to_numpy(), np.arange(len(raw)), endpoint)
    keep = frame["smiles"].notna() & frame["value"].notna()
    rejects = [(r.index, r.reason) for r in table.rejects]
    return Measurements(frame[keep].reset_index(drop=True), rejects)


@dataclass
class Aggregated:
    """One row per (compound, endpoint) after replicate aggregation, and how many replicates disagreed."""

    frame: pd.DataFrame
    conflicts: dict[str, int]


def aggregate_replicates(measurements: pd.DataFrame) -> Aggregated:
    """Replicates of one standardised compound become one label.

    Classification: the majority label; an exact tie is a conflict and the compound is dropped for
    that endpoint. Regression: the mean of exact values (on the training scale); with only censored
    values, the tightest bound ("<": the smallest, ">": the largest); mixed "<" and ">" only → conflict.
    """
    rows, conflicts = [], {}
    for (endpoint_name, smiles), group in measurements.groupby(["endpoint", "smiles"], sort=True):
        endpoint = get_endpoint(str(endpoint_name))
        label = _aggregate(endpoint, group["relation"].to_numpy(), group["value"].to_numpy(dtype=float))
        if label is None:
            conflicts[endpoint.name] = conflicts.get(endpoint.name, 0) + 1
            continue
        first = group.iloc[0]
        rows.append((first["compound_id"], smiles, first["form"], endpoint.name, *label, len(group)))
    columns = ["compound_id", "smiles", "form", "endpoint", "relation", "value", "replicates"]
    return Aggregated(pd.DataFrame(rows, columns=columns), conflicts)


def _aggregate(endpoint: Endpoint, relation: np.ndarray, value: np.ndarray) -> tuple[int, float] | None:
    if endpoint.is_classification:
        share = float(value.mean())
        return None if share == 0.5 else (0, float(share > 0.5))
    exact = relation == 0
    if exact.any():
        return 0, float(endpoint.from_model_scale(endpoint.to_model_scale(value[exact]).mean()))
    if (relation < 0).all():
        return -1, float(value.min())
    if (relation > 0).all():
        return 1, float(value.max())
    return None


def _relations(given: np.ndarray, rows: np.ndarray, reverses: bool) -> np.ndarray:
    out = np.zeros(len(given), dtype=np.int8)
    for i, text in enumerate(given):
        code = RELATIONS.get(str(text).strip())
        if code is None:
            raise InputError(f"unknown relation {text!r} on data row {int(rows[i]) + 1}", expected="=, <, >, <=, >=")
        out[i] = -code if reverses else code
    return out


def _check_binary(values: np.ndarray, relations: np.ndarray, rows: np.ndarray, endpoint: Endpoint) -> None:
    for row in rows:
        value = values[row]
        if np.isfinite(value) and (value not in (0.0, 1.0) or relations[row] != 0):
            raise InputError(
                f"{endpoint.name} is a yes/no endpoint but data row {int(row) + 1} holds {value:g}",
                expected="0 or 1 with relation '='",
            )


def _molar_masses(forms: pd.Series) -> np.ndarray:
    """Molar mass of each input form (the dosed/weighed species, salts included); NaN for rejects."""
    masses = np.full(len(forms), np.nan)
    for i, form in enumerate(forms):
        if isinstance(form, str):
            masses[i] = Descriptors.MolWt(Chem.MolFromSmiles(form))
    return masses
