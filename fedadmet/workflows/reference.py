"""Where a molecule stands among approved drugs: the model's own predictions for DrugBank's approved drugs.

Percentiles use this model's predictions (never another tool's columns), so a value and its percentile
always come from the same model. The reference keeps each drug's predictions with its ATC codes, so that a
molecule can also be placed among the drugs of one ATC class (as ADMET-AI offers). It is stored beside the
model, or cached in a folder the caller names (FEDADMET_HOME/reference) for a model folder that cannot be
written (or that holds a reference from before the ATC classes).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fedadmet.data.public import approved_drugs, atc_class_names
from fedadmet.exceptions import InputError
from fedadmet.inference import ERROR_COLUMN, Predictor, predict

REFERENCE_FILE = "approved_drugs_reference.json"
REFERENCE_FORMAT = 2  # 2: each drug's predictions and ATC codes are kept (1: the quantiles only)
MIN_CLASS_DRUGS = 10  # fewer drugs make no percentile worth showing
ATC_CODE = re.compile(r"[A-Z](\d\d([A-Z]([A-Z](\d\d)?)?)?)?")  # levels 1-5: N, N06, N06A, N06AB, N06AB03
_LEVELS = np.linspace(0.0, 100.0, 101)
_SIGNIFICANT = 4  # digits kept per stored prediction (percentiles move by less than 0.1)


@dataclass(frozen=True)
class AtcClass:
    code: str | None
    name: str | None
    drugs: int


@dataclass(frozen=True)
class DrugReference:
    """Each reference drug's prediction per endpoint (``values``) and its ATC codes (``atc``, possibly none)."""

    values: dict[str, np.ndarray]
    atc: list[tuple[str, ...]]
    _by_class: dict[str, dict[str, list[float]]] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def quantiles(self) -> dict[str, list[float]]:
        """101 quantiles (0th..100th percentile) of each endpoint over all reference drugs."""
        return _quantiles(self.values, np.ones(len(self.atc), dtype=bool))

    def members(self, code: str) -> np.ndarray:
        """Which drugs belong to ATC class ``code`` (one of their codes starts with it)."""
        return np.array([any(c.startswith(code) for c in codes) for codes in self.atc], dtype=bool)

    def quantiles_for(self, code: str | None) -> dict[str, list[float]]:
        """The quantiles over the drugs of ATC class ``code`` (all drugs for None); a class that is no class,
        or has fewer than :data:`MIN_CLASS_DRUGS` drugs here, is an :class:`InputError`."""
        if code is None:
            return self.quantiles
        if code not in self._by_class:
            if not ATC_CODE.fullmatch(code):
                raise InputError(f"{code!r} is not an ATC class code", expected="e.g. N, N06 or N06A")
            members = self.members(code)
            if members.sum() < MIN_CLASS_DRUGS:
                raise InputError(
                    f"ATC class {code} has {int(members.sum())} approved drugs in the reference, too few for "
                    f"percentiles (at least {MIN_CLASS_DRUGS})",
                    expected="a class that GET /v1/reference/atc lists",
                )
            self._by_class[code] = _quantiles(self.values, members)
        return self._by_class[code]

    def describe(self, code: str | None) -> AtcClass:
        """The class ``code`` with its name and how many reference drugs it holds (None: all drugs)."""
        if code is None:
            return AtcClass(None, "all approved drugs", len(self.atc))
        return AtcClass(code, atc_class_names().get(code), int(self.members(code).sum()))

    def classes(self) -> list[AtcClass]:
        """The ATC classes of levels 1 and 2 with at least :data:`MIN_CLASS_DRUGS` drugs, by code."""
        names = atc_class_names()
        counts: dict[str, int] = {}
        for codes in self.atc:
            for prefix in {code[:length] for code in codes for length in (1, 3)}:
                counts[prefix] = counts.get(prefix, 0) + 1
        return [
            AtcClass(code, names.get(code), count) for code, count in sorted(counts.items()) if count >= MIN_CLASS_DRUGS
        ]

    def to_json(self, source: str) -> dict[str, Any]:
        return {
            "format": REFERENCE_FORMAT,
            "source": source,
            "n_molecules": len(self.atc),
            "quantiles": self.quantiles,
            "atc": [";".join(codes) for codes in self.atc],
            "values": {name: [float(f"{v:.{_SIGNIFICANT}g}") for v in column] for name, column in self.values.items()},
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> DrugReference:
        atc = [tuple(code for code in codes.split(";") if code) for codes in stored["atc"]]
        return cls({name: np.asarray(values, float) for name, values in stored["values"].items()}, atc)


def _quantiles(values: dict[str, np.ndarray], members: np.ndarray) -> dict[str, list[float]]:
    return {name: np.percentile(column[members], _LEVELS).round(6).tolist() for name, column in values.items()}


def compute_reference(model: Predictor, drugs: pd.DataFrame | None = None) -> DrugReference:
    """Each approved drug's predictions (or those of ``drugs``, a frame with ``smiles`` and ``atc`` columns as
    :func:`fedadmet.data.public.approved_drugs` gives them, e.g. a small sample in tests)."""
    drugs = approved_drugs() if drugs is None else drugs
    profile = predict(drugs["smiles"].tolist(), model=model, progress=False)
    ok = profile[ERROR_COLUMN].isna().to_numpy()
    codes = drugs["atc"].fillna("").to_numpy()[ok]
    values = {name: profile[name].to_numpy(float)[ok] for name in model.endpoints}
    return DrugReference(values, [tuple(code for code in text.split(";") if code) for text in codes])


SOURCE = "DrugBank approved drugs bundled with fedadmet (SMILES and ATC codes only), predicted by this model"


def write_reference(model: Predictor, folder: Path, drugs: pd.DataFrame | None = None) -> Path:
    path = Path(folder) / REFERENCE_FILE
    path.write_text(json.dumps(compute_reference(model, drugs).to_json(SOURCE)))
    return path


def load_reference(model: Predictor, folder: Path, cache_dir: Path) -> DrugReference:
    """The model folder's reference, else one cached in ``cache_dir``, else computed now (about a minute)
    and cached there. A stored reference from before the ATC classes counts as none."""
    for path in (Path(folder) / REFERENCE_FILE, cache_dir / f"{_model_digest(folder)}.json"):
        if path.is_file():
            stored = json.loads(path.read_text())
            if stored.get("format") == REFERENCE_FORMAT:
                return DrugReference.from_json(stored)
    reference = compute_reference(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / f"{_model_digest(folder)}.json").write_text(json.dumps(reference.to_json(SOURCE)))
    return reference


def _model_digest(folder: Path) -> str:
    return hashlib.sha256((Path(folder) / "model.json").read_bytes()).hexdigest()[:16]


def percentile(quantiles: Sequence[float] | np.ndarray, value: float) -> float | None:
    """Percent of approved drugs predicted below ``value`` (interpolated between stored quantiles)."""
    if not np.isfinite(value):
        return None
    points = np.asarray(quantiles)
    first, last = np.searchsorted(points, value, side="left"), np.searchsorted(points, value, side="right")
    if last > first:  # the value equals one or more stored quantiles (ties are common for probabilities)
        return round(float(_LEVELS[first:last].mean()), 1)
    return round(float(np.interp(value, points, _LEVELS)), 1)
