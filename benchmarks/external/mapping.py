"""Which predicted endpoint stands for which measured quantity, and how the units relate.

One typed table (:data:`COMPARISONS`). Each measured column maps to a TDC endpoint that both fedadmet and
ADMET-AI predict (ADMET-AI's column of that name), and optionally to lab endpoints fedadmet may serve
(PharmaBench-style logD, solubility, binding, microsomal clearance). The headline compares the TDC endpoint
on both sides (the same training source, so the models are compared and not the sources); the first lab
endpoint the served model predicts is reported beside it. Labels are never rewritten on disk; conversions run in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scale:
    """A monotone transform of values, with the words the report uses for it."""

    description: str
    apply: Callable[[np.ndarray], np.ndarray]


def _log10_plus_one(values: np.ndarray) -> np.ndarray:
    return np.log10(np.clip(np.asarray(values, dtype=float), 0.0, None) + 1.0)


def _log10_of_micro(values: np.ndarray) -> np.ndarray:
    """log10 of a value given in micro-units (uM → mol/L, 1e-6 cm/s → cm/s); zero and below have no log."""
    values = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(values * 1e-6), np.nan)


AS_IS = Scale("as measured", lambda values: np.asarray(values, dtype=float))
LOG10_PLUS_ONE = Scale("log10(x + 1), x clipped at 0", _log10_plus_one)
MICROMOLAR_TO_LOG_MOLAR = Scale("log10(x × 1e-6): uM → log10(mol/L); x ≤ 0 left out", _log10_of_micro)
MICRO_CM_S_TO_LOG_CM_S = Scale("log10(x × 1e-6): 1e-6 cm/s → log10(cm/s); x ≤ 0 left out", _log10_of_micro)
UNBOUND_TO_BOUND = Scale("100 − x: % unbound → % bound", lambda values: 100.0 - np.asarray(values, dtype=float))


@dataclass(frozen=True)
class Target:
    """A predicted endpoint standing for a measured quantity.

    ``direction`` is +1 where the prediction rises with the measurement and −1 where it falls (% bound
    against % unbound); Spearman is reported for ``direction × prediction``. ``to_endpoint_units`` turns a
    measurement into the endpoint's units, or is None where the units (or the quantity) differ: then no
    MAE, and the intervals' coverage goes through a monotone mapping. ``error_scale`` is the scale, in the
    endpoint's units, on which MAE is taken (log10(x + 1) for clearances spanning decades)."""

    endpoint: str
    direction: int = 1
    to_endpoint_units: Scale | None = None
    error_scale: Scale = AS_IS

    @property
    def units_match(self) -> bool:
        return self.to_endpoint_units is not None


@dataclass(frozen=True)
class Comparison:
    """One measured column of an external set, the endpoint standing for it, and why.

    ``reference`` is the TDC endpoint, read from ADMET-AI's column of the same name and fedadmet's headline;
    the first of ``lab`` the served model predicts is reported beside it. ``measured_scale`` is the scale the data
    set's challenge scored on (log10(x + 1) for linear assay read-outs); the monotone mapping used for
    coverage where units differ is fitted on it."""

    dataset: str
    measured: str
    unit: str
    reference: Target
    lab: tuple[Target, ...] = ()
    measured_scale: Scale = AS_IS
    note: str = ""

    def fedadmet_target(self, served: Sequence[str]) -> Target:
        """The headline target: the TDC endpoint ADMET-AI predicts too (trained on the same source)."""
        if self.reference.endpoint not in served:
            raise LookupError(f"the served model does not predict {self.reference.endpoint}")
        return self.reference

    def lab_target(self, served: Sequence[str]) -> Target | None:
        """The first lab endpoint the served model predicts, reported beside the headline, or None."""
        return next((target for target in self.lab if target.endpoint in served), None)


EXPANSIONRX, ASAP = "expansionrx", "asap"

# Reference targets shared by rows, and the catalogue's PharmaBench lab endpoints (fedadmet.data.public.PHARMABENCH)
# in their catalogue units: logD; log10(mol/L); uL/min/mg; fraction unbound.
_LOGD = Target("Lipophilicity_AstraZeneca", 1, AS_IS)
_LAB_LOGD = (Target("LogD_PharmaBench", 1, AS_IS),)
_KSOL = Target("Solubility_AqSolDB", 1, MICROMOLAR_TO_LOG_MOLAR)
_LAB_SOLUBILITY = (Target("Solubility_PharmaBench", 1, MICROMOLAR_TO_LOG_MOLAR),)
_MICROSOME_OTHER_UNITS = Target("Clearance_Microsome_AZ", 1, None, LOG10_PLUS_ONE)
_MICROSOME_SAME_UNITS = Target("Clearance_Microsome_AZ", 1, AS_IS, LOG10_PLUS_ONE)  # uL/min/mg = mL/min/g
_HUMAN_MICROSOME, _MOUSE_MICROSOME = "Clearance_Microsome_Human_PharmaBench", "Clearance_Microsome_Mouse_PharmaBench"
_LAB_HUMAN_MICROSOME_OTHER_UNITS = (Target(_HUMAN_MICROSOME, 1, None, LOG10_PLUS_ONE),)
_LAB_HUMAN_MICROSOME_SAME_UNITS = (Target(_HUMAN_MICROSOME, 1, AS_IS, LOG10_PLUS_ONE),)
_LAB_MOUSE_MICROSOME_OTHER_UNITS = (
    Target(_MOUSE_MICROSOME, 1, None, LOG10_PLUS_ONE),
    *_LAB_HUMAN_MICROSOME_OTHER_UNITS,
)
_LAB_MOUSE_MICROSOME_SAME_UNITS = (Target(_MOUSE_MICROSOME, 1, AS_IS, LOG10_PLUS_ONE), *_LAB_HUMAN_MICROSOME_SAME_UNITS)
_PERMEABILITY = Target("Caco2_Wang", 1, MICRO_CM_S_TO_LOG_CM_S)
PERCENT_TO_FRACTION = Scale("x / 100: % unbound → fraction unbound", lambda values: np.asarray(values, float) / 100.0)
_LAB_PLASMA_UNBOUND = (Target("Fraction_Unbound_PharmaBench", 1, PERCENT_TO_FRACTION),)
_LAB_OTHER_MATRIX_UNBOUND = (Target("Fraction_Unbound_PharmaBench", 1, None),)

COMPARISONS: tuple[Comparison, ...] = (
    Comparison(EXPANSIONRX, "LogD", "logD", _LOGD, _LAB_LOGD),
    Comparison(
        EXPANSIONRX,
        "KSOL",
        "uM",
        _KSOL,
        _LAB_SOLUBILITY,
        LOG10_PLUS_ONE,
        "kinetic solubility against thermodynamic (AqSolDB); the assay tops out near 325 uM",
    ),
    Comparison(
        EXPANSIONRX,
        "HLM CLint",
        "mL/min/kg",
        _MICROSOME_OTHER_UNITS,
        _LAB_HUMAN_MICROSOME_OTHER_UNITS,
        LOG10_PLUS_ONE,
        "scaled to body weight (mL/min/kg), the endpoint is per gram of microsomal protein (mL/min/g)",
    ),
    Comparison(
        EXPANSIONRX,
        "MLM CLint",
        "mL/min/kg",
        _MICROSOME_OTHER_UNITS,
        _LAB_MOUSE_MICROSOME_OTHER_UNITS,
        LOG10_PLUS_ONE,
        "mouse microsomes against a human-microsome endpoint; units differ as for HLM",
    ),
    Comparison(
        EXPANSIONRX, "Caco-2 Permeability Papp A>B", "1e-6 cm/s", _PERMEABILITY, (), LOG10_PLUS_ONE, "same assay"
    ),
    Comparison(
        EXPANSIONRX,
        "MPPB",
        "% unbound",
        Target("PPBR_AZ", -1, UNBOUND_TO_BOUND),
        _LAB_PLASMA_UNBOUND,
        LOG10_PLUS_ONE,
        "mouse plasma against human plasma (% bound = 100 − % unbound)",
    ),
    Comparison(
        EXPANSIONRX,
        "MBPB",
        "% unbound",
        Target("PPBR_AZ", -1),
        _LAB_OTHER_MATRIX_UNBOUND,
        LOG10_PLUS_ONE,
        "mouse brain tissue binding against human plasma binding: another matrix, so no MAE",
    ),
    Comparison(ASAP, "LogD", "logD", _LOGD, _LAB_LOGD),
    Comparison(
        ASAP,
        "KSOL",
        "uM",
        _KSOL,
        _LAB_SOLUBILITY,
        LOG10_PLUS_ONE,
        "kinetic solubility against thermodynamic (AqSolDB); the assay tops out near 400 uM",
    ),
    Comparison(
        ASAP, "HLM", "uL/min/mg", _MICROSOME_SAME_UNITS, _LAB_HUMAN_MICROSOME_SAME_UNITS, LOG10_PLUS_ONE, "same units"
    ),
    Comparison(
        ASAP,
        "MLM",
        "uL/min/mg",
        _MICROSOME_SAME_UNITS,
        _LAB_MOUSE_MICROSOME_SAME_UNITS,
        LOG10_PLUS_ONE,
        "mouse microsomes against a human-microsome endpoint (same units)",
    ),
    Comparison(
        ASAP,
        "MDR1-MDCKII",
        "1e-6 cm/s",
        _PERMEABILITY,
        (),
        LOG10_PLUS_ONE,
        "MDR1-MDCKII cell permeability against Caco-2 (same units, another cell line)",
    ),
)
