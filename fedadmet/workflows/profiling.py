"""Profiling use case (stand-in: the merge keeps the full version of this module)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from fedadmet.inference import Predictor, predict


def profile(
    molecules: str | Sequence[str] | pd.DataFrame | os.PathLike[str],
    *,
    predictor: Predictor | os.PathLike[str] | None = None,
    endpoints: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Full ADMET/Tox profiles (the columns of :func:`fedadmet.inference.predict`), optionally of some endpoints."""
    frame = predict(molecules, model=predictor)
    if endpoints is None:
        return frame
    predicted = {name.removesuffix("_uncertainty") for name in frame.columns if name.endswith("_uncertainty")}
    unwanted = predicted - set(endpoints)
    return frame.drop(columns=[c for c in frame.columns if c in unwanted or c.rsplit("_", 1)[0] in unwanted])
