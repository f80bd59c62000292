"""Profiling molecules: the prediction table (CLI, Python, batch jobs), its summary, and the cards the web
page and the API show (values with intervals, traffic lights, approved-drug percentiles, depictions)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fedadmet.chem.depict import molecule_svg
from fedadmet.data.catalogue import get_endpoint
from fedadmet.exceptions import InputError
from fedadmet.inference import (
    ALERTS_COLUMN,
    DOMAIN_COLUMN,
    ERROR_COLUMN,
    IN_DOMAIN_COLUMN,
    Predictor,
    load_model,
    predict,
)
from fedadmet.workflows.cards import describe_properties, molecule_profiles, threshold_statement

__all__ = [
    "ALERTS_COLUMN",
    "DOMAIN_COLUMN",
    "ERROR_COLUMN",
    "IN_DOMAIN_COLUMN",
    "ProfileSummary",
    "describe_endpoints",
    "describe_properties",
    "profile",
    "profile_cards",
    "summarise",
]

Molecules = str | Sequence[str] | pd.DataFrame | os.PathLike[str]
Cards = list[dict[str, Any]]
Quantiles = dict[str, list[float]]


def profile(
    molecules: Molecules,
    *,
    predictor: Predictor | Path | None = None,
    endpoints: Sequence[str] | None = None,
    smiles_column: str | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """One row per input row, as :func:`fedadmet.inference.predict` gives it (``predictor``: a model, a
    model folder, or None for the default model), with only ``endpoints``' columns when they are given."""
    model = predictor if predictor is not None and not isinstance(predictor, os.PathLike) else load_model(predictor)
    unwanted: list[str] = []
    if endpoints is not None:
        unknown = [name for name in endpoints if name not in model.endpoints]
        if unknown or not endpoints:
            raise InputError(
                f"the model does not predict {', '.join(map(repr, unknown)) or 'an empty list of endpoints'}",
                expected=f"some of {', '.join(model.endpoints)}",
            )
        unwanted = [name for name in model.endpoints if name not in endpoints]
    result = predict(molecules, model=model, smiles_column=smiles_column, progress=progress)
    columns = [f"{name}{suffix}" for name in unwanted for suffix in ("", "_uncertainty", "_lower", "_upper")]
    return result.drop(columns=[column for column in columns if column in result.columns])


@dataclass(frozen=True)
class ProfileSummary:
    rows: int
    predicted: int
    out_of_domain: int  # of the predicted rows
    failures: list[tuple[int, str]]  # (1-based input row, why it has no prediction)


def summarise(result: pd.DataFrame) -> ProfileSummary:
    """What a user is told after profiling: how many rows were predicted, how many lie outside the domain,
    and why each failed row failed."""
    errors = result[ERROR_COLUMN].tolist()
    failures = [(position + 1, str(reason)) for position, reason in enumerate(errors) if isinstance(reason, str)]
    return ProfileSummary(
        rows=len(result),
        predicted=len(result) - len(failures),
        out_of_domain=int((~result[IN_DOMAIN_COLUMN]).sum()),  # rows without a prediction are NA, not counted
        failures=failures,
    )


def profile_cards(predictor: Predictor, quantiles: Quantiles, smiles: list[str], depict: bool) -> Cards:
    """One card per SMILES, in order: every endpoint with its interval, traffic light and approved-drug
    percentile, the domain, alerts, and with ``depict`` an SVG drawing."""
    cards = molecule_profiles(profile(smiles, predictor=predictor, progress=False), predictor.endpoints, quantiles)
    if depict:
        for card in cards:
            card["svg"] = molecule_svg(card["smiles"]) if card["smiles"] else None
    return cards


def describe_endpoints(names: Sequence[str]) -> list[dict[str, Any]]:
    """The catalogue's entry for each endpoint a model predicts, with how its traffic light is read."""
    rows = []
    for name in names:
        endpoint = get_endpoint(name)
        rows.append(
            {
                "name": name,
                "category": endpoint.category.value,
                "task": endpoint.task.value,
                "unit": endpoint.unit,
                "good": endpoint.good,
                "description": endpoint.description,
                "thresholds": threshold_statement(endpoint),
            }
        )
    return rows
