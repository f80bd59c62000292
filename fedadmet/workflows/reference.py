"""Where a molecule stands among approved drugs: the model's own predictions for DrugBank's approved drugs.

Percentiles use this model's predictions (never another tool's columns), so a value and its percentile
always come from the same model. The quantiles are stored beside the model, or cached in FEDADMET_HOME
for a model folder that cannot be written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedadmet.config import get_settings
from fedadmet.data.public import approved_drugs
from fedadmet.inference import ERROR_COLUMN, predict
from fedadmet.models.admet_model import ADMETModel

REFERENCE_FILE = "approved_drugs_reference.json"
_LEVELS = np.linspace(0.0, 100.0, 101)


def compute_reference(model: ADMETModel, smiles: Sequence[str] | None = None) -> dict[str, Any]:
    """101 quantiles (0th..100th percentile) of each endpoint's prediction over the approved drugs
    (or over ``smiles``, e.g. a small sample in tests)."""
    profile = predict(list(smiles) if smiles is not None else approved_drugs()["smiles"].tolist(), model=model)
    ok = profile[profile[ERROR_COLUMN].isna()]
    quantiles = {name: np.percentile(ok[name].to_numpy(float), _LEVELS).round(6).tolist() for name in model.endpoints}
    return {
        "source": "DrugBank approved drugs bundled with fedadmet (SMILES only), predicted by this model",
        "n_molecules": len(ok),
        "quantiles": quantiles,
    }


def write_reference(model: ADMETModel, folder: Path, smiles: Sequence[str] | None = None) -> Path:
    path = Path(folder) / REFERENCE_FILE
    path.write_text(json.dumps(compute_reference(model, smiles)))
    return path


def load_reference(model: ADMETModel, folder: Path) -> dict[str, Any]:
    """The model folder's reference, else a cached one, else computed now (about a minute) and cached."""
    stored = Path(folder) / REFERENCE_FILE
    if stored.is_file():
        return json.loads(stored.read_text())
    digest = hashlib.sha256((Path(folder) / "model.json").read_bytes()).hexdigest()[:16]
    cached = get_settings().home / "reference" / f"{digest}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    reference = compute_reference(model)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(reference))
    return reference


def percentile(quantiles: Sequence[float] | np.ndarray, value: float) -> float | None:
    """Percent of approved drugs predicted below ``value`` (interpolated between stored quantiles)."""
    if not np.isfinite(value):
        return None
    points = np.asarray(quantiles)
    first, last = np.searchsorted(points, value, side="left"), np.searchsorted(points, value, side="right")
    if last > first:  # the value equals one or more stored quantiles (ties are common for probabilities)
        return round(float(_LEVELS[first:last].mean()), 1)
    return round(float(np.interp(value, points, _LEVELS)), 1)
