"""Parsing and standardisation of molecules: the one place where SMILES become canonical structures.

Every later step (features, splits, leakage checks, caches) keys molecules by the canonical SMILES
made here, so two spellings of the same parent compound are the same molecule everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from rdkit import Chem, RDLogger
from rdkit.Chem.MolStandardize import rdMolStandardize

from fedadmet.chem.parallel import ParallelOptions, iter_chunks

RDLogger.DisableLog("rdApp.*")

MAX_MASS_NUMBER = 300  # the heaviest nuclei known have ~294 nucleons; RDKit keeps isotopes modulo 65,536
MAX_CHARGE = 8  # no atom carries more (osmium(VIII)); RDKit keeps charges modulo 256: [C+999] reads as [C-25]
_BRACKET_ATOM = re.compile(r"\[([^\]]*)\]")
_MASS_NUMBER = re.compile(r"^\d+")
_CHARGE_NUMBER = re.compile(r"[+-](\d+)")  # + and - mean charges only inside brackets
_MULTIPLE_CHARGE = re.compile(r"[+-]\d")  # how canonical SMILES writes a charge of 2 or more
_ISOTOPE = re.compile(r"\[\d")  # an isotope label opens a bracket atom: [13C], [2H]
_S_AND_P_BLOCKS = frozenset([*range(1, 21), *range(31, 39), *range(49, 57), *range(81, 89)])
_PERIODIC_TABLE = Chem.GetPeriodicTable()
# What ends there in practice: sandwich and other organometallic complexes written as ions, whose organic
# ligand alone is an aromatic anion or radical that RDKit cannot kekulise (ferrocene's cyclopentadienyl).
ROUND_TRIP_HINT = "as happens to organometallics written as ions, such as ferrocene: they cannot be profiled"


@dataclass(frozen=True)
class MoleculeLimits:
    """The largest input accepted: longer SMILES and larger parents are rejected as out of scope."""

    max_smiles_length: int = 2000
    max_heavy_atoms: int = 150


@dataclass(frozen=True)
class Reject:
    """A row that could not be used, with its 0-based position in the input and why."""

    index: int
    smiles: str
    reason: str


@dataclass
class StandardizedBatch:
    """Standardised molecules aligned to the input: ``smiles[i]`` is None exactly when row i was rejected.

    ``smiles`` holds parents (identity, and what models featurise), ``forms`` the canonical input forms
    (the salt or charge state as given: molar masses, caveats, and the features of form-dependent endpoints).
    """

    smiles: list[str | None]
    forms: list[str | None] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def valid_indices(self) -> list[int]:
        return [i for i, s in enumerate(self.smiles) if s is not None]

    @property
    def valid_smiles(self) -> list[str]:
        return [s for s in self.smiles if s is not None]

    def reasons(self) -> dict[int, str]:
        return {r.index: r.reason for r in self.rejects}


_fragment_chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
_uncharger = rdMolStandardize.Uncharger()


def standardize_mol(mol: Chem.Mol, isotopes: bool = True) -> Chem.Mol:
    """Keep the largest organic fragment, neutralise it and (when ``isotopes`` says it has any) drop isotope
    labels: a salt, a protonation state or a radiolabel is the same compound to every model here.
    Stereochemistry is left untouched."""
    parent = _uncharger.uncharge(_fragment_chooser.choose(mol))
    return _without_isotopes(parent) if isotopes else parent


def _without_isotopes(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` with every isotope label dropped (deuterium becomes an implicit hydrogen again)."""
    return Chem.RemoveHs(rdMolStandardize.IsotopeParent(mol, skipStandardize=True))


def featurised_form(form: str) -> str:
    """What a model featurises for a form-dependent endpoint (``Endpoint.form_dependent``): the input form
    as given (every fragment and charge), canonical, without isotope labels (a radiolabel dissolves alike)."""
    if _ISOTOPE.search(form) is None:
        return form
    return Chem.MolToSmiles(_without_isotopes(Chem.MolFromSmiles(form)))


def standardisation_note(form: Chem.Mol, parent: str) -> str:
    """What standardisation changed on the way from the input ``form`` to the ``parent`` SMILES, in
    words ("" when nothing): a chemist sees why the profiled structure differs from the one drawn, and
    that the profile is the parent's (a salt's solubility, a label's kinetics may differ).
    Costs a few RDKit calls only for salts, mixtures, charged and labelled inputs."""
    changes = []
    largest = form
    fragments = [Chem.MolToSmiles(fragment) for fragment in Chem.GetMolFrags(form, asMols=True)]
    if len(fragments) > 1:
        largest = _fragment_chooser.choose(form)
        fragments.remove(Chem.MolToSmiles(largest))
        changes.append(f"kept the largest organic fragment, removed {'.'.join(fragments)}")
    largest_smiles = Chem.MolToSmiles(largest)
    if _ISOTOPE.search(largest_smiles):
        changes.append("removed isotope labels")
        largest_smiles = Chem.MolToSmiles(_without_isotopes(largest))
    if largest_smiles != parent:
        changes.append("neutralised charges")
    return "; ".join(changes)


def radical_note(form: Chem.Mol) -> str:
    """A caveat for a radical (``[CH3]``), profiled as drawn: "" for a closed-shell molecule. The models
    learned from stable, closed-shell compounds, so a radical's numbers are extrapolations."""
    unpaired = sum(atom.GetNumRadicalElectrons() for atom in form.GetAtoms())
    if not unpaired:
        return ""
    electrons = "electron" if unpaired == 1 else "electrons"
    return (
        f"a radical ({unpaired} unpaired {electrons}): the models learned from closed-shell molecules, read with care"
    )


def standardize_smiles(smiles: object, limits: MoleculeLimits | None = None) -> tuple[str | None, str | None]:
    """Return ``(canonical_parent_smiles, None)`` or ``(None, reason)`` for one input value."""
    parent, _, reason = standardize_with_form(smiles, limits)
    return parent, reason


def standardize_with_form(
    smiles: object, limits: MoleculeLimits | None = None
) -> tuple[str | None, str | None, str | None]:
    """``(parent, form, reason)``: the standardised parent (largest organic fragment, neutral, no isotope
    labels) is the molecule's identity (dedupe, leakage) and what models featurise, so that writing a
    compound as a salt, an ion or a labelled isotopologue does not change its predictions; the form is
    the input as given (all fragments and charges), canonicalised: molar masses, caveats and the
    form-dependent endpoints (solubility, :func:`featurised_form`) read it."""
    parent, form, reason, _ = standardize_to_mols(smiles, limits)
    return parent, form, reason


def standardize_to_mols(
    smiles: object, limits: MoleculeLimits | None = None
) -> tuple[str | None, str | None, str | None, tuple[Chem.Mol, Chem.Mol] | None]:
    """:func:`standardize_with_form` plus the parent and form molecules as read back from their canonical
    SMILES: exactly what a later step would get by parsing them again, so one pass can reuse them."""
    limits = limits or MoleculeLimits()
    if smiles is None or (isinstance(smiles, float) and smiles != smiles):
        return None, None, "missing SMILES (empty cell or unreadable record)", None
    if not isinstance(smiles, str):
        return None, None, f"SMILES must be text, got {type(smiles).__name__}", None
    text = smiles.strip()
    if not text:
        return None, None, "empty SMILES", None
    if len(text) > limits.max_smiles_length:
        return None, None, f"SMILES longer than {limits.max_smiles_length} characters", None
    problem = _text_problem(text)
    if problem is not None:
        return None, None, problem, None
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        return None, None, f"RDKit cannot parse SMILES {text[:80]!r}", None
    if mol.GetNumAtoms() == 0:
        return None, None, "molecule has no atoms", None
    form = Chem.MolToSmiles(mol)
    problem = _impossible_charge(mol) if _MULTIPLE_CHARGE.search(form) else None
    if problem is not None:
        return None, None, problem, None
    try:
        parent_mol = standardize_mol(mol, isotopes=_ISOTOPE.search(form) is not None)
    except Exception as exc:  # RDKit raises several unrelated types for chemistry it cannot handle
        return None, None, f"standardisation failed: {exc}", None
    heavy = parent_mol.GetNumHeavyAtoms()
    if heavy == 0:
        return None, None, "molecule has no heavy atoms after standardisation", None
    if heavy > limits.max_heavy_atoms:
        return None, None, f"molecule has {heavy} heavy atoms, more than the supported {limits.max_heavy_atoms}", None
    parent = Chem.MolToSmiles(parent_mol)
    parent_again, form_again = Chem.MolFromSmiles(parent), Chem.MolFromSmiles(form)
    if parent_again is None or form_again is None:
        # Every later step re-parses canonical SMILES, so a structure RDKit cannot read back is unusable.
        return None, None, f"standardised structure {parent!r} cannot be read back by RDKit ({ROUND_TRIP_HINT})", None
    return parent, form, None, (parent_again, form_again)


def _text_problem(text: str) -> str | None:
    """Why ``text`` is no single SMILES, where RDKit would read something else without a word: it stops at
    a character it does not know (``CCÖ`` reads as ``CC``), takes what follows white space for a name, and
    wraps numbers it cannot store. CXSMILES extensions (``CCO |$;;X$|``) are allowed."""
    odd = next((c for c in text if not (c.isascii() and c.isprintable()) and not c.isspace()), None)
    if odd is not None:
        return f"SMILES holds {odd!r} at position {text.index(odd) + 1}, which is no SMILES character"
    structure, *rest = text.split(maxsplit=1)
    if rest and not rest[0].startswith("|"):
        return f"text after the SMILES {structure[:80]!r}: {rest[0][:40]!r} (a name belongs in its own column)"
    for content in _BRACKET_ATOM.findall(structure):
        mass = _MASS_NUMBER.match(content)
        if mass is not None and int(mass.group()) > MAX_MASS_NUMBER:
            return f"[{content}] has mass number {mass.group()}: no nucleus has more than {MAX_MASS_NUMBER}"
        charge = _CHARGE_NUMBER.search(content)
        if charge is not None and int(charge.group(1)) > MAX_CHARGE:
            return f"[{content}] has charge {charge.group()}: no atom carries more than {MAX_CHARGE}"
    return None


def _impossible_charge(mol: Chem.Mol) -> str | None:
    """An atom charged beyond what its element allows: an s- or p-block atom cannot give up more electrons
    than its valence shell holds, nor take more than fill it (``CC[O-8]``); other elements stay within
    -4 and +8."""
    for atom in mol.GetAtoms():
        charge, number = atom.GetFormalCharge(), atom.GetAtomicNum()
        if abs(charge) < 2 or number == 0:
            continue
        if number in _S_AND_P_BLOCKS:
            outer = _PERIODIC_TABLE.GetNOuterElecs(number)
            possible = -((2 if number <= 2 else 8) - outer) <= charge <= outer
        else:
            possible = -4 <= charge <= MAX_CHARGE
        if not possible:
            symbol = atom.GetSymbol()
            return f"atom {atom.GetIdx() + 1} ({symbol}) has charge {charge:+d}, which no {symbol} atom carries"
    return None


def _standardize_chunk(
    limits: MoleculeLimits, values: Sequence[str]
) -> list[tuple[str | None, str | None, str | None]]:
    return [standardize_with_form(value, limits) for value in values]


def standardize_many(
    smiles: Iterable[object], limits: MoleculeLimits | None = None, parallel: ParallelOptions | None = None
) -> StandardizedBatch:
    """Standardise a column of SMILES, keeping row alignment and recording each reject with its reason.

    Each distinct text is standardised once (data sets repeat molecules), in worker processes when many."""
    limits = limits or MoleculeLimits()
    values = list(smiles)
    texts = list(dict.fromkeys(value for value in values if isinstance(value, str)))
    chunks = iter_chunks(partial(_standardize_chunk, limits), texts, description="standardise", parallel=parallel)
    known = dict(zip(texts, (result for chunk in chunks for result in chunk), strict=True))
    parents: list[str | None] = []
    forms: list[str | None] = []
    rejects: list[Reject] = []
    for index, value in enumerate(values):
        parent, form, reason = known[value] if isinstance(value, str) else standardize_with_form(value, limits)
        parents.append(parent)
        forms.append(form)
        if reason is not None:
            rejects.append(Reject(index=index, smiles=str(value), reason=reason))
    return StandardizedBatch(smiles=parents, forms=forms, rejects=rejects)


def mols_from_canonical(smiles: Sequence[str]) -> list[Chem.Mol]:
    """Re-parse canonical SMILES produced by :func:`standardize_smiles` (which always parse)."""
    return [Chem.MolFromSmiles(s) for s in smiles]


def inchikeys(smiles: Sequence[str]) -> list[str]:
    """Standard InChIKeys of canonical SMILES: the identity that compares molecules across data sets whose
    SMILES were written by other software (leakage checks against external validation sets)."""
    return [Chem.MolToInchiKey(mol) for mol in mols_from_canonical(smiles)]
