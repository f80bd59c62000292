"""The pure parts of the generalisation experiment: the fixed split of ExpansionRx into two halves, and the
training labels of a candidate that pools several public sources after a stated unit conversion."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmarks.external.mapping import AS_IS, Scale
from fedadmet.data.public import MIN_FRACTION_UNBOUND

HALF_A, HALF_B = "A", "B"


def expansionrx_half(name: str) -> str:
    """Half A or B of a molecule, from the first byte of the SHA-256 of its name (``E-0001321``): fixed, needs
    no seed, and independent of file order and of any label."""
    return HALF_A if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else HALF_B


def _log10(values: np.ndarray) -> np.ndarray:
    """log10; zero and below give no finite value (and :func:`pooled_labels` leaves them out)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.asarray(values, dtype=float))


def _log10_unbound_from_bound(values: np.ndarray) -> np.ndarray:
    return np.log10(np.clip(1.0 - np.asarray(values, dtype=float) / 100.0, MIN_FRACTION_UNBOUND, 1.0))


LOG10 = Scale("log10", _log10)
LOG10_UNBOUND_FROM_BOUND = Scale(
    f"log10(1 − x / 100): % bound → log10 fraction unbound, fu clipped to [{MIN_FRACTION_UNBOUND:g}, 1]",
    _log10_unbound_from_bound,
)


@dataclass(frozen=True)
class Part:
    """One public endpoint's labels (catalogue source units) and the scale a candidate trains them on;
    ``standardised``: then centred and scaled to unit variance within this source, so that sources whose
    levels differ (species, assay formats) pool by rank within each rather than by value."""

    endpoint: str
    scale: Scale = AS_IS
    standardised: bool = False

    def labels(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s rows with a finite label on this part's scale, the label converted."""
        values = self.scale.apply(frame["y"].to_numpy())
        finite = np.isfinite(values)
        values = values[finite]
        if self.standardised:
            values = (values - values.mean()) / values.std()
        return pd.DataFrame({"smiles": frame["smiles"].to_numpy()[finite], "y": values})


def pooled_labels(parts: Sequence[Part], frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One ``smiles``/``y`` row per molecule over every part: each part's ``y`` on its scale, then the mean
    where a molecule is in several sources (sorted by SMILES, so the rows do not depend on the parts' order).
    Rows whose converted label is not finite are left out."""
    rows = pd.concat([part.labels(frames[part.endpoint]) for part in parts], ignore_index=True)
    pooled = rows.groupby("smiles", sort=True)["y"].mean()
    return pd.DataFrame({"smiles": pooled.index.to_numpy(), "y": pooled.to_numpy(dtype=float)})
