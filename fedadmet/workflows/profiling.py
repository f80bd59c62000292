"""Profile molecules with a predictor (stand-in: delegates to fedadmet.inference.predict)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from fedadmet.inference import predict


def profile(molecules: Any, *, predictor: Any = None, endpoints: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per molecule with its endpoint predictions (all endpoints, or only ``endpoints``)."""
    table = predict(molecules, model=predictor, progress=False)
    if endpoints is None:
        return table
    return table[[column for column in table.columns if column in {"smiles", "error", *endpoints}]]
