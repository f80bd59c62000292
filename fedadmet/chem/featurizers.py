"""Molecular featurizers: callables with a fixed output length, composable into one feature vector.

Each featurizer maps an RDKit molecule to a float32 vector of ``len(featurizer)`` values and has a
``signature`` that changes whenever its output would, so cached features are never stale.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from functools import cached_property, partial
from typing import Protocol

import numpy as np
from rdkit import Chem
from rdkit.Avalon import pyAvalonTools
from rdkit.Chem import Descriptors, rdFingerprintGenerator, rdReducedGraphs

from fedadmet.chem.descriptors import FAST_EQUIVALENTS, cache_estate_indices, is_peoe_vsa, peoe_vsa_bins

# Descriptors left out of the fast 2D set: each costs 0.1-0.8 ms per molecule (measured with RDKit
# 2026.09) or is numerically unstable (Ipc overflows on large molecules), while adding little signal.
SLOW_OR_UNSTABLE_DESCRIPTORS = frozenset(
    {"qed", "SPS", "Ipc", "AvgIpc", "BertzCT"} | {name for name, _ in Descriptors.descList if name.startswith("BCUT2D")}
)
FAST_DESCRIPTOR_NAMES: tuple[str, ...] = tuple(
    name for name, _ in Descriptors.descList if name not in SLOW_OR_UNSTABLE_DESCRIPTORS
)
# What the lean set (the default since issue 23) also leaves out, because the descriptors cost more CPU than
# they earn (benchmarks/results/features.md: per-descriptor time on 2,000 approved drugs, and TDC test and
# ExpansionRx scores without each group): the Chi/Kappa/Phi connectivity indices (about half of the time the
# fast set costs), the 85 fr_ SMARTS counts and FpDensityMorgan1-3 (another Morgan fingerprint). Avalon stays:
# without it (same descriptors) 4 of 5 ExpansionRx checks and 6 of 8 TDC scores were worse, though one seed
# of CatBoost alone moves ExpansionRx Spearman by about ±0.05 (dropping Avalon from the full set looked better).
_COSTLY_FOR_THEIR_GAIN = ("Chi", "Kappa", "HallKierAlpha", "Phi", "fr_", "FpDensityMorgan")
LEAN_DESCRIPTOR_NAMES: tuple[str, ...] = tuple(
    name for name in FAST_DESCRIPTOR_NAMES if not name.startswith(_COSTLY_FOR_THEIR_GAIN)
)
_DESCRIPTOR_FUNCTIONS = dict(Descriptors.descList)
# RDKit recomputes the (pure-Python, quadratic) EState indices in each of these four unless told not to;
# the featurizer caches them on the molecule first (computed in NumPy, identical values), so all 25
# EState descriptors read them from there.
_DESCRIPTOR_FUNCTIONS |= {
    name: partial(_DESCRIPTOR_FUNCTIONS[name], force=0)
    for name in ("MaxEStateIndex", "MinEStateIndex", "MaxAbsEStateIndex", "MinAbsEStateIndex")
} | FAST_EQUIVALENTS
_FLOAT32_LIMIT = 1e30


class Featurizer(Protocol):
    """What every featurizer offers; see the module docstring."""

    name: str

    def __len__(self) -> int: ...

    def __call__(self, mol: Chem.Mol) -> np.ndarray: ...

    @property
    def signature(self) -> str: ...


class MorganCountFeaturizer:
    """Hashed Morgan (ECFP-like) count fingerprint."""

    name = "morgan"

    def __init__(self, radius: int = 2, n_bits: int = 1024) -> None:
        self.radius = radius
        self.n_bits = n_bits

    @cached_property
    def _generator(self) -> rdFingerprintGenerator.FingeprintGenerator64:
        return rdFingerprintGenerator.GetMorganGenerator(radius=self.radius, fpSize=self.n_bits)

    def __getstate__(self) -> dict[str, int]:
        return {"radius": self.radius, "n_bits": self.n_bits}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(**state)

    def __len__(self) -> int:
        return self.n_bits

    def __call__(self, mol: Chem.Mol) -> np.ndarray:
        return self._generator.GetCountFingerprintAsNumPy(mol).astype(np.float32)

    @property
    def signature(self) -> str:
        return f"morgan-r{self.radius}-{self.n_bits}-count"


class AvalonCountFeaturizer:
    """Avalon count fingerprint: substructure keys that complement circular fingerprints."""

    name = "avalon"

    def __init__(self, n_bits: int = 1024) -> None:
        self.n_bits = n_bits

    def __len__(self) -> int:
        return self.n_bits

    def __call__(self, mol: Chem.Mol) -> np.ndarray:
        fingerprint = pyAvalonTools.GetAvalonCountFP(mol, nBits=self.n_bits)
        out = np.zeros(self.n_bits, dtype=np.float32)
        for bit, count in fingerprint.GetNonzeroElements().items():
            out[bit] = count
        return out

    @property
    def signature(self) -> str:
        return f"avalon-{self.n_bits}-count"


class ErGFeaturizer:
    """Extended reduced graph (ErG): pharmacophore-pair descriptor, good for scaffold hopping."""

    name = "erg"
    length = 315

    def __len__(self) -> int:
        return self.length

    def __call__(self, mol: Chem.Mol) -> np.ndarray:
        return np.asarray(rdReducedGraphs.GetErGFingerprint(mol), dtype=np.float32)

    @property
    def signature(self) -> str:
        return "erg-315"


class RDKit2DFeaturizer:
    """RDKit 2D descriptors (the fast set by default); NaN and infinities become finite values."""

    name = "rdkit2d"

    def __init__(self, names: Sequence[str] = FAST_DESCRIPTOR_NAMES) -> None:
        unknown = sorted(set(names) - set(_DESCRIPTOR_FUNCTIONS))
        if unknown:
            raise ValueError(f"unknown RDKit descriptors: {unknown}")
        self.names = tuple(names)
        self._reads_estate = any("EState" in name for name in self.names)
        # The PEOE_VSA bins come from one call per molecule (fedadmet.chem.descriptors), every other descriptor
        # from its own; kept as names, not functions, so that the featurizer pickles (to worker processes).
        self._peoe_vsa = tuple(name for name in self.names if is_peoe_vsa(name))
        self._peoe_vsa_columns = [i for i, name in enumerate(self.names) if is_peoe_vsa(name)]
        self._single = tuple((i, name) for i, name in enumerate(self.names) if not is_peoe_vsa(name))

    def __len__(self) -> int:
        return len(self.names)

    def __call__(self, mol: Chem.Mol) -> np.ndarray:
        if self._reads_estate:
            with contextlib.suppress(ValueError, RuntimeError, ZeroDivisionError):
                cache_estate_indices(mol)  # if this fails, RDKit's own EState code fails per descriptor below
        values = np.empty(len(self.names), dtype=np.float64)
        for i, name in self._single:
            values[i] = _descriptor_value(_DESCRIPTOR_FUNCTIONS[name], mol)
        if self._peoe_vsa:
            values[self._peoe_vsa_columns] = _descriptor_value(partial(peoe_vsa_bins, names=self._peoe_vsa), mol)
        values = np.nan_to_num(values, nan=0.0, posinf=_FLOAT32_LIMIT, neginf=-_FLOAT32_LIMIT)
        return np.clip(values, -_FLOAT32_LIMIT, _FLOAT32_LIMIT).astype(np.float32)

    @property
    def signature(self) -> str:
        digest = hashlib.sha256(",".join(self.names).encode()).hexdigest()[:10]
        return f"rdkit2d-{len(self.names)}-{digest}"


def _descriptor_value(function: Callable[[Chem.Mol], float | np.ndarray], mol: Chem.Mol) -> float | np.ndarray:
    """``function(mol)``, NaN where RDKit cannot compute it (made finite with the rest)."""
    try:
        return function(mol)
    except (ValueError, RuntimeError, ZeroDivisionError):
        return np.nan


class FeatureSet:
    """Concatenation of featurizers; the layout is recorded so a model can find each block again."""

    name = "featureset"

    def __init__(self, featurizers: Sequence[Featurizer]) -> None:
        self.featurizers = tuple(featurizers)

    def __len__(self) -> int:
        return sum(len(f) for f in self.featurizers)

    def __call__(self, mol: Chem.Mol) -> np.ndarray:
        return np.concatenate([f(mol) for f in self.featurizers])

    @property
    def signature(self) -> str:
        return "+".join(f.signature for f in self.featurizers)

    def block(self, name: str) -> slice:
        """Column range of one featurizer's output inside the concatenated vector."""
        start = 0
        for featurizer in self.featurizers:
            if featurizer.name == name:
                return slice(start, start + len(featurizer))
            start += len(featurizer)
        raise KeyError(f"no featurizer named {name!r} in {self.signature}")

    def columns_of(self, part: FeatureSet) -> np.ndarray:
        """Columns of this set's output that hold ``part``'s output, in ``part``'s order: a smaller feature set
        read from features already computed (and cached) for a larger one, with the same values. Every
        featurizer of ``part`` must be one of this set's (same signature), or RDKit 2D descriptors it holds."""
        starts, start = {}, 0
        for featurizer in self.featurizers:
            starts[featurizer.signature] = start
            start += len(featurizer)
        descriptors = descriptor_columns(self)
        columns: list[int] = []
        for featurizer in part.featurizers:
            if featurizer.signature in starts:
                columns += range(starts[featurizer.signature], starts[featurizer.signature] + len(featurizer))
            elif isinstance(featurizer, RDKit2DFeaturizer) and set(featurizer.names) <= set(descriptors):
                columns += [descriptors[name] for name in featurizer.names]
            else:
                raise KeyError(f"{featurizer.signature} is not part of {self.signature}")
        return np.asarray(columns, dtype=np.intp)


def descriptor_columns(featurizer: Featurizer) -> dict[str, int]:
    """Column of each RDKit 2D descriptor in ``featurizer``'s output (empty if it computes none), so that a
    value the features hold is read from them rather than computed again."""
    parts = featurizer.featurizers if isinstance(featurizer, FeatureSet) else (featurizer,)
    columns, start = {}, 0
    for part in parts:
        if isinstance(part, RDKit2DFeaturizer):
            columns |= {name: start + i for i, name in enumerate(part.names)}
        start += len(part)
    return columns


def default_feature_set() -> FeatureSet:
    """The feature vector new fedadmet models use: Morgan and Avalon counts, ErG and the lean 2D descriptors."""
    return FeatureSet(
        [MorganCountFeaturizer(), AvalonCountFeaturizer(), ErGFeaturizer(), RDKit2DFeaturizer(LEAN_DESCRIPTOR_NAMES)]
    )


def full_feature_set() -> FeatureSet:
    """The earlier default (Morgan + Avalon counts, ErG, all 204 fast 2D descriptors): models trained with
    it still load and predict, with the same values as before."""
    return FeatureSet([MorganCountFeaturizer(), AvalonCountFeaturizer(), ErGFeaturizer(), RDKit2DFeaturizer()])


FEATURE_SETS: dict[str, Callable[[], FeatureSet]] = {"lean": default_feature_set, "full": full_feature_set}


def feature_set_named(name: str) -> FeatureSet:
    """The feature set a model config names (:data:`FEATURE_SETS`)."""
    return FEATURE_SETS[name]()


def feature_set_for(signature: str) -> FeatureSet | None:
    """The feature set a model trained with ``signature`` needs, or None if this fedadmet has none such."""
    made = (make() for make in FEATURE_SETS.values())
    return next((feature_set for feature_set in made if feature_set.signature == signature), None)
