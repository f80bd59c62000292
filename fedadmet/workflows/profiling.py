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
from fedadmet.data.loaders import smiles_and_name
from fedadmet.exceptions import InputError
from fedadmet.inference import (
    ALERTS_COLUMN,
    DOMAIN_COLUMN,
    ENDPOINT_DOMAIN_SUFFIX,
    ENDPOINT_IN_DOMAIN_SUFFIX,
    ERROR_COLUMN,
    IN_DOMAIN_COLUMN,
    Predictor,
    load_model,
    predict,
)
from fedadmet.workflows.cards import molecule_profiles, threshold_statement

__all__ = [
    "ALERTS_COLUMN",
    "DOMAIN_COLUMN",
    "ENDPOINT_DOMAIN_SUFFIX",
    "ENDPOINT_IN_DOMAIN_SUFFIX",
    "ERROR_COLUMN",
    "IN_DOMAIN_COLUMN",
    "ProfileSummary",
    "choose_endpoints",
    "describe_endpoints",
    "listed_endpoints",
    "named_molecules",
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
    model folder, or None for the default model), with only ``endpoints``' columns when they are given
    (checked by :func:`choose_endpoints`; the columns of the others are not computed)."""
    model = predictor if predictor is not None and not isinstance(predictor, os.PathLike) else load_model(predictor)
    chosen = choose_endpoints(model.endpoints, endpoints)
    return predict(molecules, model=model, smiles_column=smiles_column, progress=progress, endpoints=chosen)


def listed_endpoints(text: str | None) -> list[str] | None:
    """Endpoint names as a person types them in one field or option: comma-separated, spaces around them
    ignored (``None`` or nothing: no choice, every endpoint)."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    return names or None


def choose_endpoints(available: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The endpoints a caller asked for (``None``: all ``available``), in the order asked, each once; an
    empty choice or a name the model does not predict is refused, naming it (CLI ``--endpoints``, API and
    page field ``endpoints``)."""
    if requested is None:
        return list(available)
    unknown = [name for name in requested if name not in available]
    if unknown or not requested:
        raise InputError(
            f"the model does not predict {', '.join(map(repr, unknown)) or 'an empty list of endpoints'}",
            expected=f"some of {', '.join(available)}",
        )
    return list(dict.fromkeys(requested))


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


def profile_cards(
    predictor: Predictor,
    quantiles: Quantiles,
    smiles: list[str],
    depict: bool,
    endpoints: Sequence[str] | None = None,
) -> Cards:
    """One card per SMILES, in order: every endpoint (or only ``endpoints``, see :func:`choose_endpoints`)
    with its interval, traffic light and approved-drug percentile, the domain, alerts, and with ``depict``
    an SVG drawing."""
    chosen = choose_endpoints(predictor.endpoints, endpoints)
    table = profile(smiles, predictor=predictor, endpoints=chosen, progress=False)
    cards = molecule_profiles(table, chosen, quantiles)
    if depict:
        for card in cards:
            card["svg"] = molecule_svg(card["smiles"]) if card["smiles"] else None
    return cards


def named_molecules(lines: Sequence[str], ids: Sequence[str] | None = None) -> tuple[list[str], list[str | None]]:
    """The SMILES to profile and the caller's name or ID for each: ``ids`` where given (one per line),
    else the name after the SMILES on its line ("CCO ethanol", as in a .smi file); a line holding a name
    as well as an id in ``ids`` is refused, naming its position, rather than one of them dropped."""
    split = [smiles_and_name(line) for line in lines]
    if ids is None:
        return [smiles for smiles, _ in split], [name for _, name in split]
    if len(ids) != len(lines):
        raise InputError(f"{len(ids)} ids for {len(lines)} molecules", expected="one id per molecule")
    named = next((number for number, (_, name) in enumerate(split, start=1) if name is not None), None)
    if named is not None:
        raise InputError(f"molecule {named} has a name after its SMILES and an id as well", expected="one of them")
    return list(lines), list(ids)


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
