"""Physicochemical properties and drug-likeness rules, the columns a chemist reads beside the endpoints.

Every value is RDKit's: molecular weight, Wildman-Crippen logP, TPSA, Lipinski's donors and acceptors,
rotatable bonds, formal charge, QED (Bickerton 2012) and the synthetic accessibility score (Ertl and
Schuffenhauer 2009, RDKit Contrib ``sascorer``). A profile already computes most of them among the model's
features; those are passed in (``known``) and not computed again, which keeps the added cost per molecule
to QED's own substructure counts and the SA score (see :func:`molecule_properties`).

The rules are one typed table (:data:`RULES`): each a list of named limits and how many may be broken.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import numpy as np
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdMolDescriptors

from fedadmet.chem.alerts import screen_bits, screened


@dataclass(frozen=True)
class PhysChemProperty:
    """One column: ``name`` (as ADMET-AI names it where it has it), a short ``label`` for tables, the
    ``unit``, what it is, and the RDKit descriptor of the model's features that holds the same value."""

    name: str
    label: str
    unit: str
    description: str
    descriptor: str | None = None


PROPERTIES: tuple[PhysChemProperty, ...] = (
    PhysChemProperty("molecular_weight", "MW", "Da", "molecular weight (average masses)", "MolWt"),
    PhysChemProperty("logP", "cLogP", "", "Wildman-Crippen calculated logP", "MolLogP"),
    PhysChemProperty("tpsa", "TPSA", "Å²", "topological polar surface area (N, O)", "TPSA"),
    PhysChemProperty("hydrogen_bond_donors", "HBD", "", "hydrogen-bond donors (Lipinski)", "NumHDonors"),
    PhysChemProperty("hydrogen_bond_acceptors", "HBA", "", "hydrogen-bond acceptors (Lipinski)", "NumHAcceptors"),
    PhysChemProperty("rotatable_bonds", "RotB", "", "rotatable bonds (RDKit, strict)", "NumRotatableBonds"),
    PhysChemProperty("formal_charge", "charge", "", "net formal charge of the standardised parent"),
    PhysChemProperty("QED", "QED", "", "quantitative estimate of drug-likeness, 0 (unlike) to 1 (like drugs)"),
    PhysChemProperty("synthetic_accessibility", "SA", "", "synthetic accessibility score, 1 (easy) to 10 (hard)"),
)
PROPERTY_NAMES: tuple[str, ...] = tuple(p.name for p in PROPERTIES)
_BY_NAME = {p.name: p for p in PROPERTIES}


@dataclass(frozen=True)
class Limit:
    """A property kept within ``[low, high]``; a value outside breaks the limit."""

    property: str
    low: float = -math.inf
    high: float = math.inf

    def broken(self, values: np.ndarray) -> np.ndarray:
        return (values < self.low) | (values > self.high)

    def statement(self) -> str:
        label = _BY_NAME[self.property].label
        if self.low == -math.inf:
            return f"{label} ≤ {self.high:g}"
        if self.high == math.inf:
            return f"{label} ≥ {self.low:g}"
        return f"{self.low:g} ≤ {label} ≤ {self.high:g}"

    def violation(self, value: float) -> str:
        """What was broken, e.g. ``MW 612.8 > 500``."""
        label = _BY_NAME[self.property].label
        return f"{label} {value:.4g} < {self.low:g}" if value < self.low else f"{label} {value:.4g} > {self.high:g}"


@dataclass(frozen=True)
class Rule:
    """Passed while at most ``allowed`` of the ``limits`` are broken."""

    name: str
    limits: tuple[Limit, ...]
    allowed: int
    source: str

    def statement(self) -> str:
        limits = ", ".join(limit.statement() for limit in self.limits)
        tolerance = f"; at most {self.allowed} broken" if self.allowed else ""
        return f"{limits}{tolerance} ({self.source})"


RULES: tuple[Rule, ...] = (
    Rule(
        "Lipinski",
        (
            Limit("molecular_weight", high=500),
            Limit("logP", high=5),
            Limit("hydrogen_bond_donors", high=5),
            Limit("hydrogen_bond_acceptors", high=10),
        ),
        allowed=1,
        source="Lipinski et al. 1997, rule of five",
    ),
    Rule(
        "Veber",
        (Limit("rotatable_bonds", high=10), Limit("tpsa", high=140)),
        allowed=0,
        source="Veber et al. 2002, oral bioavailability in rat",
    ),
    Rule(
        "Pfizer_3_75",
        (Limit("logP", high=3), Limit("tpsa", low=75)),
        allowed=1,
        source="Hughes et al. 2008: cLogP > 3 together with TPSA < 75 raises the risk of toxicity",
    ),
    Rule(
        "GSK_4_400",
        (Limit("molecular_weight", high=400), Limit("logP", high=4)),
        allowed=0,
        source="Gleeson 2008, GSK 4/400",
    ),
    Rule(
        "Golden_Triangle",
        (Limit("molecular_weight", low=200, high=500), Limit("logP", low=-2, high=5)),
        allowed=0,
        source="Johnson et al. 2009 (with cLogP for logD7.4)",
    ),
)


@dataclass(frozen=True)
class RuleOutcome:
    """For each molecule of a batch: passed or not, and each broken limit in words."""

    passed: np.ndarray
    violations: list[list[str]]


def synthetic_accessibility(mol: Chem.Mol) -> float:
    """Ertl and Schuffenhauer's SA score (RDKit Contrib), 1 easy to 10 hard: the one place it is computed."""
    return float(_sascorer().calculateScore(mol))


@cache
def _sascorer() -> ModuleType:
    """RDKit Contrib's module, imported when first needed (it lies outside RDKit's packages)."""
    from rdkit.Contrib.SA_Score import sascorer

    sascorer.readFragmentScores()  # ~0.3 s, once per process instead of inside the first molecule's call
    return sascorer


_RDKIT = {
    "MolWt": Descriptors.MolWt,
    "MolLogP": Crippen.MolLogP,
    "TPSA": rdMolDescriptors.CalcTPSA,
    "NumHDonors": Lipinski.NumHDonors,
    "NumHAcceptors": Lipinski.NumHAcceptors,
    "NumRotatableBonds": lambda mol: rdMolDescriptors.CalcNumRotatableBonds(
        mol, rdMolDescriptors.NumRotatableBondsOptions.Strict
    ),
}


def molecule_properties(
    mol: Chem.Mol, known: Mapping[str, float] | None = None, bits: np.ndarray | None = None
) -> np.ndarray:
    """The :data:`PROPERTIES` of ``mol`` in order; ``known``: RDKit descriptor values (by RDKit name) already
    computed for this very structure, e.g. by the model's featurizer, which are used instead of computed again;
    ``bits``: its :func:`fedadmet.chem.alerts.screen_bits`, if the structural alerts computed them.

    QED is RDKit's, given the properties it would compute itself (the same RDKit calls) so that the shared
    ones are computed once."""
    known = known or {}
    shared = {
        p.descriptor: float(known[p.descriptor]) if p.descriptor in known else float(_RDKIT[p.descriptor](mol))
        for p in PROPERTIES
        if p.descriptor is not None
    }
    qed_properties = QED.QEDproperties(
        MW=shared["MolWt"],
        ALOGP=shared["MolLogP"],
        HBA=sum(len(mol.GetSubstructMatches(pattern)) for pattern in QED.Acceptors),
        HBD=shared["NumHDonors"],
        PSA=shared["TPSA"],
        ROTB=shared["NumRotatableBonds"],
        AROM=len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), QED.AliphaticRings))),
        ALERTS=_qed_alerts(mol, screen_bits(mol) if bits is None else bits),
    )
    values = [shared[p.descriptor] for p in PROPERTIES if p.descriptor is not None]
    values += [Chem.GetFormalCharge(mol), QED.qed(mol, qedProperties=qed_properties), synthetic_accessibility(mol)]
    return np.asarray(values, dtype=np.float64)


@cache
def _qed_alert_screens() -> np.ndarray:
    return np.stack([screen_bits(alert) for alert in QED.StructuralAlerts])


def prepare_properties() -> None:
    """Load the SA score's fragment table and screen QED's alerts now, before worker processes are forked,
    so that they inherit them instead of each loading its own (~0.3 s of CPU a process)."""
    _sascorer()
    _qed_alert_screens()


def _qed_alerts(mol: Chem.Mol, bits: np.ndarray) -> int:
    """How many of QED's 116 unwanted substructures ``mol`` has, as ``QED.properties`` counts them; each
    pattern is first screened with pattern fingerprints (as the structural alerts are), which skips most."""
    candidates = screened(bits, _qed_alert_screens())
    return sum(1 for i in candidates if mol.HasSubstructMatch(QED.StructuralAlerts[i]))


def check_rules(values: Mapping[str, np.ndarray], rules: Sequence[Rule] = RULES) -> dict[str, RuleOutcome]:
    """Each rule over a batch: ``values`` maps each property name to one value per molecule."""
    outcomes = {}
    for rule in rules:
        broken = np.stack([limit.broken(np.asarray(values[limit.property], float)) for limit in rule.limits])
        violations = []
        for row, hits in enumerate(broken.T):
            found = zip(rule.limits, hits, strict=True)
            violations.append([limit.violation(float(values[limit.property][row])) for limit, hit in found if hit])
        outcomes[rule.name] = RuleOutcome(broken.sum(axis=0) <= rule.allowed, violations)
    return outcomes
