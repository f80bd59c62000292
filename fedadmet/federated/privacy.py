"""Differential privacy for trunk updates: per-partner clipping plus distributed Gaussian noise, and its ε.

Each partner clips its update to L2 norm C and adds N(0, (σC)² / n) noise, so the secure sum of n
updates carries N(0, (σC)²): the server, which only sees that sum under SecAgg+, gets a Gaussian
mechanism with sensitivity C per partner (partner-level DP). ε at a stated δ composes over rounds with
Rényi DP; with fewer partners than planned the noise is smaller, so ε is computed for the fewest that
took part.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import numpy as np

from fedadmet.federated.plan import PrivacyConfig

_ORDERS = np.concatenate([np.linspace(1.1, 10.9, 99), np.arange(11, 257)])


def secure_rng() -> np.random.Generator:
    """A generator for DP noise that nobody can replay: seeded with 128 bits from the OS's cryptographic
    source (:mod:`secrets`) at every call, never from the run's seed or NumPy's and PyTorch's global state."""
    return np.random.default_rng(secrets.randbits(128))


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
