"""The PMO tasks (Gao et al. 2022) whose oracles need no downloaded classifier, and PMO's AUC of the top-10.

PMO scores molecules with TDC's ``Oracle``, which restates GuacaMol's goal-directed objectives. The pieces
come from the ``guacamol`` package (its score modifiers, fingerprints, descriptors, atom counter and
geometric mean: the modules that import cleanly with NumPy 2, SciPy 1.17 and RDKit 2026; installed with
``pip install --no-deps guacamol``, so it brings no second RDKit). They are composed here as TDC composes
them (``tdc/chem_utils/oracle/oracle.py``), since PMO's published figures come from TDC's versions:

- median1 uses ECFP4, not GuacaMol's ECFP6; TDC's troglitazone target is the same molecule written otherwise.
- Isomer scores (isomers_*, zaleplon_mpo, sitagliptin_mpo): each element count as in GuacaMol, but the
  total atom count is TDC's: its formula parser run over the SMILES string (uppercase element symbols
  with the digits after them), not the molecule's atom count with hydrogens that GuacaMol uses.

Left out: drd2, gsk3b, jnk3 (their oracles download trained classifiers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from guacamol.score_modifier import (
    ClippedScoreModifier,
    GaussianModifier,
    LinearModifier,
    MaxGaussianModifier,
    MinGaussianModifier,
    ScoreModifier,
)
from guacamol.utils.descriptors import AtomCounter, bertz, logP, num_aromatic_rings, num_rings, qed, tpsa
from guacamol.utils.fingerprints import get_fingerprint
from guacamol.utils.math import geometric_mean
from rdkit import Chem, DataStructs
from rdkit.Chem.Pharm2D import Gobbi_Pharm2D

Part = Callable[[Chem.Mol, str], float]  # one score component of a molecule (and its canonical SMILES)

SITAGLIPTIN = "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F"
PHARMACOPHORE = "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C"  # deco_hop and scaffold_hop
HOP_SCAFFOLD = "[#7]-c1n[c;h1]nc2[c;h1]c(-[#8])[c;h0][c;h1]c12"


@cache
def _pharmacophore_bit(families: tuple[int, ...], distances: tuple[int, ...]) -> int:
    return int(Gobbi_Pharm2D.factory.GetBitIdx(list(families), list(distances), sortIndices=False))


def gobbi_pharmacophore(mol: Chem.Mol) -> DataStructs.SparseBitVect:
    """The bits of RDKit's ``Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)`` (GuacaMol's PHCO), found
    per pair and triple of feature matches rather than per family combination, each distinct (families,
    distances) bit looked up once: the same fingerprint (tested; identical on 2,200 ZINC molecules and
    crossovers), much faster on large molecules, whose matches form hundreds of thousands of triples.

    RDKit keeps a pair or triple of feature matches when every pairwise shortest path between them lies in
    the factory's bins (which also drops matches sharing an atom: distance 0), orders the points by family
    and then by atom ids, and lets ``GetBitIdx`` put repeated families in canonical order. Distances are
    capped at the last bin's start before the look-up, which keeps the look-up table small on large
    molecules and gives the same bit for every family and distance triple (checked exhaustively to 25
    bonds). Triples are enumerated with NumPy, one first point at a time, as integer codes of their
    families and capped distances; only the distinct codes reach the look-up."""
    factory = Gobbi_Pharm2D.factory
    bins = factory.GetBins()
    low, last, high = bins[0][0], bins[-1][0], bins[-1][1]
    signature = factory.GetSignature()
    matches = sorted(
        {(family, tuple(atoms)) for family, found in enumerate(factory.GetMolFeats(mol)) for atoms in found}
    )
    if not matches:
        return signature
    paths = Chem.GetDistanceMatrix(mol, factory.includeBondOrder)
    members = np.concatenate([atoms for _, atoms in matches])  # every match's atoms, match after match
    starts = np.cumsum([0] + [len(atoms) for _, atoms in matches[:-1]])
    nearest = np.minimum.reduceat(paths[members], starts, axis=0)  # per match, the shortest path to each atom
    distance = np.minimum.reduceat(nearest[:, members], starts, axis=1)  # shortest path between two matches
    usable = np.triu((distance >= low) & (distance < high), k=1)  # pairs i < j within the bins
    capped = np.minimum(np.where(np.isfinite(distance), distance, last), last).astype(np.int64)
    families = np.array([family for family, _ in matches], dtype=np.int64)
    span, reach = int(families.max()) + 1, last + 1  # code radices: families, capped distances
    first, second = np.nonzero(usable)
    codes = [(families[first] * span + families[second]) * reach + capped[first, second]]
    for i, j, k in _usable_triples(usable):
        point_code = (families[i] * span + families[j]) * span + families[k]
        distance_code = (capped[i, j] * reach + capped[i, k]) * reach + capped[j, k]
        codes.append(-1 - (point_code * reach**3 + distance_code))  # negative: triples apart from pairs
    for code in np.unique(np.concatenate(codes)).tolist():
        signature.SetBit(_bit_of_code(code, span, reach))
    return signature


def _usable_triples(usable: np.ndarray, at_once: int = 64) -> Iterator[tuple[np.ndarray, ...]]:
    """Index arrays (i, j, k), i < j < k, of the triples whose three pairs are usable (``usable`` is upper
    triangular): all at once for up to ``at_once`` matches, else one first point at a time (memory)."""
    if len(usable) <= at_once:
        yield np.nonzero(usable[:, :, None] & usable[:, None, :] & usable[None, :, :])
        return
    for i in range(len(usable)):
        partners = np.flatnonzero(usable[i])
        j, k = np.nonzero(usable[np.ix_(partners, partners)])
        yield np.full(len(j), i), partners[j], partners[k]


@cache
def _bit_of_code(code: int, span: int, reach: int) -> int:
    """The bit of a pair (code >= 0) or triple (code < 0) as :func:`gobbi_pharmacophore` encodes them."""
    size = 2 if code >= 0 else 3
    code = code if code >= 0 else -1 - code
    distances: list[int] = []
    for _ in range(size * (size - 1) // 2):
        code, distance = divmod(code, reach)
        distances.insert(0, distance)
    families: list[int] = []
    for _ in range(size):
        code, family = divmod(code, span)
        families.insert(0, family)
    return _pharmacophore_bit(tuple(families), tuple(distances))


def _fingerprint(mol: Chem.Mol, kind: str) -> object:
    """GuacaMol's fingerprint ``kind`` of ``mol`` (its PHCO computed by :func:`gobbi_pharmacophore`)."""
    return gobbi_pharmacophore(mol) if kind == "PHCO" else get_fingerprint(mol, kind)


@dataclass(frozen=True)
class Similarity:
    """Tanimoto to a target on one of GuacaMol's fingerprints (count vectors for ECFP/FCFP, as TDC)."""

    target: str
    fingerprint: str
    modifier: ScoreModifier | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_target", _fingerprint(Chem.MolFromSmiles(self.target), self.fingerprint))

    def __call__(self, mol: Chem.Mol, smiles: str) -> float:
        value = DataStructs.TanimotoSimilarity(_fingerprint(mol, self.fingerprint), self._target)  # type: ignore[attr-defined]
        return float(self.modifier(value)) if self.modifier else value


@dataclass(frozen=True)
class Descriptor:
    """A descriptor of the molecule through a modifier."""

    function: Callable[[Chem.Mol], float]
    modifier: ScoreModifier

    def __call__(self, mol: Chem.Mol, smiles: str) -> float:
        return float(self.modifier(self.function(mol)))


@dataclass(frozen=True)
class Substructure:
    """1 where the SMARTS matches (0 with ``absent``: 1 where it does not)."""

    smarts: str
    absent: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", Chem.MolFromSmarts(self.smarts))

    def __call__(self, mol: Chem.Mol, smiles: str) -> float:
        return float(mol.HasSubstructMatch(self._pattern) != self.absent)  # type: ignore[attr-defined]


def formula_counts(text: str) -> list[tuple[str, int]]:
    """TDC's molecular-formula reading: each uppercase letter with the lowercase letters after it is an
    element, the digits after that its count (1 when none). Applied to a SMILES string too (see the module)."""
    counts: list[tuple[str, int]] = []
    index = 0
    while index < len(text):
        if not text[index].isupper():
            index += 1
            continue
        end = index + 1
        while end < len(text) and text[end].islower():
            end += 1
        digits = end
        while digits < len(text) and text[digits].isdigit():
            digits += 1
        counts.append((text[index:end], int(text[end:digits]) if digits > end else 1))
        index = digits
    return counts


@dataclass(frozen=True)
class Isomer:
    """Closeness to a molecular formula: the geometric mean of a Gaussian (sigma 1) on each element's count
    and one (sigma 2) on the total atom count."""

    formula: str

    def __call__(self, mol: Chem.Mol, smiles: str) -> float:
        target = formula_counts(self.formula)
        scores = [float(GaussianModifier(mu=count, sigma=1.0)(AtomCounter(element)(mol))) for element, count in target]
        total = sum(count for _, count in formula_counts(smiles))
        scores.append(float(GaussianModifier(mu=sum(count for _, count in target), sigma=2.0)(total)))
        return float(geometric_mean(scores))


@dataclass(frozen=True)
class Task:
    """A PMO objective: its parts combined by a geometric (or arithmetic) mean."""

    parts: tuple[Part, ...]
    geometric: bool = True

    def __call__(self, smiles: str) -> float:
        mol = Chem.MolFromSmiles(smiles)
        values = [part(mol, smiles) for part in self.parts]
        return float(geometric_mean(values) if self.geometric else np.mean(values))


def _sitagliptin(function: Callable[[Chem.Mol], float], sigma: float) -> Descriptor:
    """A Gaussian around sitagliptin's own value of ``function``."""
    return Descriptor(function, GaussianModifier(mu=function(Chem.MolFromSmiles(SITAGLIPTIN)), sigma=sigma))


def build_tasks() -> dict[str, Task]:
    """The 20 offline PMO tasks by PMO's names (built on call: fingerprints of the targets are computed)."""
    near = ClippedScoreModifier(upper_x=0.75)
    return {
        "qed": Task((Descriptor(qed, LinearModifier()),)),
        "celecoxib_rediscovery": Task(
            (Similarity("CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F", "ECFP4"),)
        ),
        "troglitazone_rediscovery": Task(
            (Similarity("Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O", "ECFP4"),)
        ),
        "thiothixene_rediscovery": Task((Similarity("CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1", "ECFP4"),)),
        "albuterol_similarity": Task((Similarity("CC(C)(C)NCC(O)c1ccc(O)c(CO)c1", "FCFP4", near),)),
        "mestranol_similarity": Task(
            (Similarity("COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1", "AP", near),)
        ),
        "isomers_c7h8n2o2": Task((Isomer("C7H8N2O2"),)),
        "isomers_c9h10n2o2pf2cl": Task((Isomer("C9H10N2O2PF2Cl"),)),
        "median1": Task((Similarity("CC1(C)C2CCC1(C)C(=O)C2", "ECFP4"), Similarity("CC(C)C1CCC(C)CC1O", "ECFP4"))),
        "median2": Task(
            (
                Similarity("O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C", "ECFP6"),
                Similarity("CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C", "ECFP6"),
            )
        ),
        "amlodipine_mpo": Task(
            (
                Similarity("Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC", "ECFP4"),
                Descriptor(num_rings, GaussianModifier(mu=3, sigma=0.5)),
            )
        ),
        "fexofenadine_mpo": Task(
            (
                Similarity(
                    "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",
                    "AP",
                    ClippedScoreModifier(upper_x=0.8),
                ),
                Descriptor(tpsa, MaxGaussianModifier(mu=90, sigma=10)),
                Descriptor(logP, MinGaussianModifier(mu=4, sigma=1)),
            )
        ),
        "osimertinib_mpo": Task(
            (
                Similarity(
                    "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",
                    "FCFP4",
                    ClippedScoreModifier(upper_x=0.8),
                ),
                Similarity(
                    "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",
                    "ECFP6",
                    MinGaussianModifier(mu=0.85, sigma=0.1),
                ),
                Descriptor(tpsa, MaxGaussianModifier(mu=100, sigma=10)),
                Descriptor(logP, MinGaussianModifier(mu=1, sigma=1)),
            )
        ),
        "perindopril_mpo": Task(
            (
                Similarity("O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC", "ECFP4"),
                Descriptor(num_aromatic_rings, GaussianModifier(mu=2, sigma=0.5)),
            )
        ),
        "ranolazine_mpo": Task(
            (
                Similarity("COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2", "AP", ClippedScoreModifier(upper_x=0.7)),
                Descriptor(tpsa, MaxGaussianModifier(mu=95, sigma=20)),
                Descriptor(logP, MaxGaussianModifier(mu=7, sigma=1)),
                Descriptor(AtomCounter("F"), GaussianModifier(mu=1, sigma=1.0)),
            )
        ),
        "sitagliptin_mpo": Task(
            (
                Similarity(SITAGLIPTIN, "ECFP4", GaussianModifier(mu=0, sigma=0.1)),
                _sitagliptin(logP, 0.2),
                _sitagliptin(tpsa, 5),
                Isomer("C16H15F6N5O"),
            )
        ),
        "zaleplon_mpo": Task(
            (Similarity("O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1", "ECFP4"), Isomer("C19H17N3O2"))
        ),
        "valsartan_smarts": Task(
            (
                Substructure("CN(C=O)Cc1ccc(c2ccccc2)cc1"),
                _sitagliptin(tpsa, 5),
                _sitagliptin(logP, 0.2),
                _sitagliptin(bertz, 30),
            )
        ),
        "deco_hop": Task(
            (
                Similarity(PHARMACOPHORE, "PHCO", ClippedScoreModifier(upper_x=0.85)),
                Substructure("CS([#6])(=O)=O", absent=True),
                Substructure("[#7]-c1ccc2ncsc2c1", absent=True),
                Substructure(HOP_SCAFFOLD),
            ),
            geometric=False,
        ),
        "scaffold_hop": Task(
            (
                Similarity(PHARMACOPHORE, "PHCO", ClippedScoreModifier(upper_x=0.75)),
                Substructure("[#6]-[#6]-[#6]-[#8]-[#6]~[#6]~[#6]~[#6]~[#6]-[#7]-c1ccc2ncsc2c1"),
                Substructure(HOP_SCAFFOLD, absent=True),
            ),
            geometric=False,
        ),
    }


def auc_top(values: Sequence[float], budget: int, top: int = 10, every: int = 100) -> float:
    """PMO's AUC (mol_opt ``top_auc`` with ``finish``): the mean of the ``top`` best values so far, read every
    ``every`` calls (in call order) and joined by trapezoids from 0 at no calls; calls left unused are filled
    with the last mean; divided by ``budget``."""
    values = list(values[:budget])
    if not values:
        return 0.0
    total, previous, read = 0.0, 0.0, 0
    for calls in range(every, min(len(values), budget), every):
        now = float(np.mean(sorted(values[:calls], reverse=True)[:top]))
        total += every * (now + previous) / 2
        previous, read = now, calls
    last = float(np.mean(sorted(values, reverse=True)[:top]))
    total += (len(values) - read) * (last + previous) / 2
    total += (budget - len(values)) * last
    return total / budget
