"""Differential privacy: partner-level (each update clipped, distributed Gaussian noise) and record-level
(DP-SGD at each partner, Opacus), with the ε each spends.

Partner-level. Each partner clips its update to L2 norm C and adds N(0, (σC)² / n) noise, so the secure sum of n
updates carries N(0, (σC)²): the server, which only sees that sum under SecAgg+, gets a Gaussian
mechanism with sensitivity C per partner (partner-level DP). ε at a stated δ composes over rounds with
Rényi DP; with fewer partners than planned the noise is smaller, so ε is computed for the fewest that
took part. It protects a partner's whole contribution, but with a handful of partners the noise on the
mean (σC) dwarfs the clipped signal (each ≤ C), so the model loses most of its use.

Record-level. Each partner trains its local steps with DP-SGD (:class:`RecordDpSchedule`): every record's
gradient clipped to C, Gaussian noise σC on each Poisson-sampled batch's sum, σ calibrated by Opacus's
accountant so that all steps of all planned rounds stay within the target ε at δ. Everything the partner
sends (its trunk, whatever the coordinator aggregates or publishes) is post-processing of those steps.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from fedadmet.exceptions import InputError
from fedadmet.federated.plan import PrivacyConfig

if TYPE_CHECKING:
    import torch

    from fedadmet.federated.config import RecordDpConfig

_ORDERS = np.concatenate([np.linspace(1.1, 10.9, 99), np.arange(11, 257)])


def secure_rng() -> np.random.Generator:
    """A generator for DP noise that nobody can replay: seeded with 128 bits from the OS's cryptographic
    source (:mod:`secrets`) at every call, never from the run's seed or NumPy's and PyTorch's global state."""
    return np.random.default_rng(secrets.randbits(128))


def secure_torch_generator() -> torch.Generator:
    """PyTorch's generator for DP-SGD's batch sampling and noise, seeded like :func:`secure_rng` (64 bits,
    PyTorch's most) from the OS's cryptographic source: neither the sampled batches nor the noise can be
    replayed from the run's seed."""
    import torch

    return torch.Generator().manual_seed(secrets.randbits(63))


def clip_and_noise(
    update: Mapping[str, np.ndarray], clipping_norm: float, noise_std: float, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], float]:
    """The clipped, noised update and its norm before clipping."""
    norm = float(np.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in update.values())))
    scale = min(1.0, clipping_norm / norm) if norm > 0 else 1.0
    noised = {
        k: (v * scale + rng.normal(0.0, noise_std, v.shape)).astype(v.dtype) if noise_std > 0 else v * scale
        for k, v in update.items()
    }
    return noised, norm


def partner_noise_std(clipping_norm: float, noise_multiplier: float, n_partners: int) -> float:
    """Noise each of ``n_partners`` adds so that their sum has standard deviation σC."""
    return noise_multiplier * clipping_norm / np.sqrt(n_partners)


def spent_epsilon(privacy: PrivacyConfig, rounds: int, fewest_partners: int, planned_partners: int) -> float | None:
    """ε spent after ``rounds`` rounds at the configured δ (None without DP). Each partner's noise was sized
    for ``planned_partners``, so a round summed by only ``fewest_partners`` carried less of it."""
    if not privacy.enabled:
        return None
    effective = privacy.noise_multiplier * np.sqrt(fewest_partners / planned_partners)
    return gaussian_epsilon(effective, rounds, privacy.delta)


def gaussian_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """ε of ``rounds`` Gaussian mechanisms with noise multiplier σ at δ (RDP accounting, no subsampling)."""
    if noise_multiplier <= 0:
        return float("inf")
    rdp = rounds * _ORDERS / (2 * noise_multiplier**2)
    return float(np.min(rdp + np.log(1 / delta) / (_ORDERS - 1)))


@dataclass(frozen=True)
class RecordDpSchedule:
    """One partner's DP-SGD over a run: each local step samples every training record with probability
    ``sample_rate`` (Poisson) and adds noise σ·C to the batch's sum of clipped gradients; ``steps_per_round``
    steps a round, ``planned_rounds`` rounds, σ the accountant's for all of them."""

    noise_multiplier: float
    sample_rate: float
    steps_per_round: int
    planned_rounds: int
    delta: float
    accountant: str

    @classmethod
    def of(
        cls, settings: RecordDpConfig, records: int, batch_size: int, local_epochs: int, rounds: int, partner: str
    ) -> RecordDpSchedule:
        """The schedule of a partner with ``records`` training records; refuses a δ that is not below 1/n
        (a δ of 1/n lets a mechanism publish one record outright)."""
        if records < 1 or settings.delta >= 1 / records:
            raise InputError(
                f"record-level DP at {partner}: δ {settings.delta:g} must be below 1/n for its {records} "
                "training records",
                expected=f"δ < {1 / max(records, 1):.3g}",
            )
        batches = math.ceil(records / batch_size)
        steps = local_epochs * batches
        sigma = _noise_multiplier(
            settings.target_epsilon, settings.delta, 1 / batches, steps * rounds, settings.accountant
        )
        return cls(sigma, 1 / batches, steps, rounds, settings.delta, settings.accountant)

    def epsilon_after(self, rounds: int) -> float:
        """ε at δ after ``rounds`` rounds of steps (0 before any): Opacus's accountant over them."""
        if rounds > self.planned_rounds:
            raise InputError(
                "record-level DP budget spent: more rounds than the noise was calibrated for",
                got=rounds,
                expected=f"at most {self.planned_rounds}",
            )
        return _record_epsilon(
            self.noise_multiplier, self.sample_rate, rounds * self.steps_per_round, self.delta, self.accountant
        )


@lru_cache(maxsize=64)
def _noise_multiplier(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    """The accountant's smallest σ (within 1 %) that keeps ``steps`` subsampled Gaussian steps within ε at δ."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=target_epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=accountant,
        )
    )


@lru_cache(maxsize=256)
def _record_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    if steps <= 0:
        return 0.0
    from opacus.accountants import create_accountant

    counted = create_accountant(accountant)
    counted.history = [(noise_multiplier, sample_rate, steps)]
    return float(counted.get_epsilon(delta))
