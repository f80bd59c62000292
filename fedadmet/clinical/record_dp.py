"""Record-level differential privacy at each hospital: every patient's contribution to what the hospital
shares is clipped, and Gaussian noise sized to one patient's influence is added before anything leaves.

Neighbouring cohorts differ in one patient's record (replaced, the cohort size n is public: FedAvg weighs
by it), so a mean of per-record vectors clipped to norm C moves by at most 2C/n: the noise's standard
deviation is ``noise_multiplier × 2C/n``. A hospital releases its covariate moments once (round 1) and one
noisy mean gradient per local step of every later round (the first is the gradient it shares); the
weights it returns and the SCAFFOLD correction are computed from those releases only (post-processing).
The noise multiplier is the smallest that keeps the composition of all releases, accounted by Google's
``dp-accounting`` (Rényi DP, full batch: no subsampling amplification), within the
target ε at δ. The noise comes from a generator seeded by the operating system's entropy, never from the
run's reproducible seed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import dp_accounting
import numpy as np
from dp_accounting.rdp import rdp_privacy_accountant
from scipy.special import expit

from fedadmet.exceptions import InputError


@dataclass(frozen=True)
class RecordDp:
    """The study's record-level DP settings (``record_dp`` in the task options): target ε at ``delta``,
    per-patient clipping norm ``clip`` and the public step size of the noisy local steps."""

    target_epsilon: float
    delta: float = 1e-5
    clip: float = 6.0  # near √(covariates): a standardised patient's gradient is rarely clipped much more
    step_size: float = 1.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RecordDp | None:
        settings = options.get("record_dp")
        if not settings:
            return None
        record_dp = cls(**{key: float(value) for key, value in settings.items()})
        if record_dp.target_epsilon <= 0 or not 0 < record_dp.delta < 1 or record_dp.clip <= 0:
            raise InputError("record_dp needs target_epsilon > 0, 0 < delta < 1 and clip > 0", got=dict(settings))
        return record_dp


def planned_releases(training_rounds: int, local_steps: int) -> int:
    """Noisy releases of one hospital over a run: its moments, then one gradient per local step per round."""
    return 1 + training_rounds * local_steps


def _composition(noise_multiplier: float, releases: int) -> dp_accounting.DpEvent:
    return dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(noise_multiplier), releases)


@lru_cache(maxsize=64)
def epsilon_spent(noise_multiplier: float, releases: int, delta: float) -> float:
    """ε at ``delta`` of ``releases`` Gaussian releases with this noise multiplier (0 before any)."""
    if releases <= 0:
        return 0.0
    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(_composition(noise_multiplier, releases))
    return float(accountant.get_epsilon(delta))


@lru_cache(maxsize=64)
def noise_multiplier_for(target_epsilon: float, delta: float, releases: int) -> float:
    """The accountant's smallest noise multiplier keeping ``releases`` releases within ``target_epsilon``."""
    return float(
        dp_accounting.calibrate_dp_mechanism(
            rdp_privacy_accountant.RdpAccountant,
            lambda multiplier: _composition(multiplier, releases),
            target_epsilon,
            delta,
            bracket_interval=dp_accounting.LowerEndpointAndGuess(0.05, 2.0),
            tol=1e-3,
        )
    )


def clipped_rows(rows: np.ndarray, clip: float) -> np.ndarray:
    """Each row scaled down to L2 norm ≤ ``clip`` (one patient's contribution)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows * np.minimum(1.0, clip / np.maximum(norms, 1e-12))


def clipped_mean(rows: np.ndarray, clip: float) -> np.ndarray:
    """The mean of per-record vectors clipped to ``clip``: one patient moves it by at most 2·clip/n."""
    return clipped_rows(rows, clip).mean(axis=0)


def noisy(mean: np.ndarray, n: int, clip: float, noise_multiplier: float, rng: np.random.Generator) -> np.ndarray:
    """The Gaussian mechanism on a clipped mean of ``n`` records (replace-one sensitivity 2·clip/n)."""
    return mean + rng.normal(0.0, noise_multiplier * 2.0 * clip / n, size=mean.shape)


def per_example_gradients(values: np.ndarray, outcome: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """Each patient's gradient of the log-loss (coefficients, then the intercept): rows whose mean is
    :func:`fedadmet.clinical.models.logistic_gradient`."""
    residual = expit(values @ coef + intercept) - outcome
    return np.column_stack([values * residual[:, None], residual])


def moment_records(scaled: np.ndarray) -> np.ndarray:
    """Each patient's covariates on the public scales (bounded to ±1: the scales are the agreed bounds) and
    their squares, side by side: the records whose means are the shared moments."""
    bounded = np.clip(scaled, -1.0, 1.0)
    return np.hstack([bounded, bounded**2])


class NoisyGradients:
    """The gradient oracle of a hospital's noisy local steps: each call is one release (clipped per-patient
    gradients, averaged, noised); ``released`` keeps them (the first is the gradient the hospital shares)."""

    def __init__(
        self,
        values: np.ndarray,
        outcome: np.ndarray,
        settings: RecordDp,
        noise_multiplier: float,
        rng: np.random.Generator,
    ) -> None:
        self.values, self.outcome, self.settings, self.noise_multiplier, self.rng = (
            values,
            outcome,
            settings,
            noise_multiplier,
            rng,
        )
        self.released: list[np.ndarray] = []

    def __call__(self, coef: np.ndarray, intercept: float) -> np.ndarray:
        rows = per_example_gradients(self.values, self.outcome, coef, intercept)
        clip = self.settings.clip
        released = noisy(clipped_mean(rows, clip), len(self.outcome), clip, self.noise_multiplier, self.rng)
        self.released.append(released)
        return released
