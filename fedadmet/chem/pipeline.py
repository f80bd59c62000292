"""The chemistry behind a profile in one pass: each molecule is parsed once, then standardised,
featurised and matched against the structural alerts in the same worker. Three separate passes would
each parse it again and each start their own worker processes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from rdkit import Chem

from fedadmet.chem.alerts import alerts_for_mols, prepare_alerts, screen_bits
from fedadmet.chem.featurizers import Featurizer, descriptor_columns
from fedadmet.chem.graphs import MolGraph, mol_graph
from fedadmet.chem.parallel import ParallelOptions, iter_chunks
from fedadmet.chem.properties import PROPERTIES, PROPERTY_NAMES, molecule_properties, prepare_properties
from fedadmet.chem.standardize import (
    MoleculeLimits,
    featurised_form,
    radical_note,
    standardisation_note,
    standardize_to_mols,
)

# Training sets hold a few inorganic compounds and R-group fragments, so standardisation keeps them;
# a profile is only given for a whole organic molecule.
DUMMY_ATOM_REASON = "the structure has dummy atoms (*): R groups and attachment points cannot be profiled"
INORGANIC_REASON = (
    "no fragment with carbon: inorganic compounds (salts, oxides, metal halides, water) cannot be profiled"
)
INORGANIC_CARBON_REASON = (
    "its only carbon is inorganic (carbonate, cyanide, cyanate, thiocyanate, carbide, a metal carbonyl or cyano "
    "complex, CO, CO2, CS2 or COS): it cannot be profiled"
)
# Parents (uncharged, as standardisation leaves them) of the carbon-containing anions and gases that
# chemistry counts as inorganic: lithium carbonate must not be profiled as carbonic acid.
_INORGANIC_CARBON_PARENTS = frozenset(
    Chem.CanonSmiles(smiles)
    for smiles in (
        *("OC(O)=O", "O=C=O", "[C-]#[O+]", "[C]=O", "S=C=S", "O=C=S", "[C]"),  # carbonates, oxides, sulfides
        *("OC(O)=S", "OC(=O)S", "OC(=S)S", "SC(S)=S"),  # thiocarbonates
        *("C#N", "OC#N", "N=C=O", "SC#N", "N=C=S"),  # cyanides, cyanates, thiocyanates
        "[C-4]",  # methanide, as in aluminium carbide
    )
)
# What a salt's or an ion's profile says where the model predicts its form-dependent endpoints from the form.
FORM_NOTE = "solubility is predicted for the form as drawn, every other endpoint for the parent"
_ACETYLIDE = Chem.MolFromSmarts("[C-]#[C]")  # standardisation makes calcium carbide's parent acetylene
_NON_METALS = (1, 2, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 33, 34, 35, 36, 52, 53, 54, 85, 86)
_METAL = Chem.MolFromSmarts("[" + ";".join(f"!#{number}" for number in _NON_METALS) + "]")


@dataclass
class ChemistryChunk:
    """Results for consecutive input texts: ``standardized`` has one ``(parent, form, reason)`` per text
    and ``notes`` what standardisation changed, and a radical's caveat ("" if nothing or rejected);
    ``features``, ``alerts`` and ``properties`` (the parent's :data:`fedadmet.chem.properties.PROPERTIES`)
    have one row per text that standardised, in the same order. Where forms were asked for,
    ``form_features`` has the features of each input form that differs from its parent (a salt, an ion), for
    the form-dependent endpoints, and ``form_rows`` says which rows of ``features`` they belong to. Where
    graphs were asked for (a model with a graph member), ``graphs`` and ``form_graphs`` have the molecular
    graph of each row of ``features`` and ``form_features``."""

    standardized: list[tuple[str | None, str | None, str | None]]
    notes: list[str]
    features: np.ndarray
    alerts: list[list[str]]
    properties: np.ndarray
    form_rows: np.ndarray
    form_features: np.ndarray
    graphs: list[MolGraph] | None = None
    form_graphs: list[MolGraph] | None = None


def _chemistry_chunk(
    featurizer: Featurizer, limits: MoleculeLimits, with_forms: bool, with_graphs: bool, texts: Sequence[str]
) -> ChemistryChunk:
    standardized, notes, rows, parents, properties, bits = [], [], [], [], [], []
    form_rows, form_features, form_mols = [], [], []
    wanted = {p.descriptor for p in PROPERTIES}
    columns = {name: column for name, column in descriptor_columns(featurizer).items() if name in wanted}
    for text in texts:
        parent, form, reason, mols = standardize_to_mols(text, limits)
        if mols is not None:
            problem = _unprofilable(parent, form, *mols)
            if problem is not None:
                parent, form, reason, mols = None, None, problem, None
        standardized.append((parent, form, reason))
        if mols is None:
            notes.append("")
        else:
            changed = standardisation_note(mols[1], parent) if form != parent else ""
            notes.append("; ".join(note for note in (changed, radical_note(mols[1])) if note))
        if mols is not None:
            parent_mol = mols[0]
            rows.append(featurizer(parent_mol))  # models and alerts look at the parent, whatever its form
            parents.append(parent_mol)
            bits.append(screen_bits(parent_mol))  # one pattern fingerprint screens the alerts and QED's alerts
            known = {name: rows[-1][column] for name, column in columns.items()}  # the features hold some already
            properties.append(molecule_properties(parent_mol, known, bits[-1]))
            featurised = featurised_form(form) if with_forms and form != parent else parent
            if featurised != parent:
                form_rows.append(len(rows) - 1)
                form_mol = mols[1] if featurised == form else Chem.MolFromSmiles(featurised)  # parsed once already
                form_features.append(featurizer(form_mol))
                form_mols.append(form_mol)
                notes[-1] = f"{notes[-1]}; {FORM_NOTE}"
    table = np.stack(properties) if properties else np.zeros((0, len(PROPERTY_NAMES)))
    return ChemistryChunk(
        standardized,
        notes,
        _stacked(rows, len(featurizer)),
        alerts_for_mols(parents, bits),
        table,
        np.asarray(form_rows, dtype=np.intp),
        _stacked(form_features, len(featurizer)),
        [mol_graph(mol) for mol in parents] if with_graphs else None,
        [mol_graph(mol) for mol in form_mols] if with_graphs else None,
    )


def _stacked(rows: list[np.ndarray], width: int) -> np.ndarray:
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, width), dtype=np.float32)


def _unprofilable(parent_smiles: str, form_smiles: str, parent: Chem.Mol, form: Chem.Mol) -> str | None:
    """Why a molecule that standardised still gets no profile, if it does not. (Read from the canonical
    SMILES and C++ queries where possible: a Python loop over the atoms costs ~50 µs a molecule.)"""
    if "*" in form_smiles:
        return DUMMY_ATOM_REASON
    if not any(atom.GetAtomicNum() == 6 for atom in parent.GetAtoms()):
        return INORGANIC_REASON
    if parent_smiles in _INORGANIC_CARBON_PARENTS:  # parents carry no isotope labels: ¹³CO₂ is CO₂
        return INORGANIC_CARBON_REASON
    if parent_smiles == "C#C" and form.HasSubstructMatch(_ACETYLIDE):
        return INORGANIC_CARBON_REASON
    if _metal_with_inorganic_carbon_only(parent):
        return INORGANIC_CARBON_REASON
    return None


def _metal_with_inorganic_carbon_only(mol: Chem.Mol) -> bool:
    """A metal bonded to cyanide, carbonyl or carbonate (silver cyanide as C(#N)[Ag], ferrocyanide, nickel
    carbonyl): no carbon bears a hydrogen or another carbon. Organic ligands (carboplatin) always do."""
    if not mol.HasSubstructMatch(_METAL):
        return False
    return all(
        atom.GetTotalNumHs() == 0 and not any(n.GetAtomicNum() == 6 for n in atom.GetNeighbors())
        for atom in mol.GetAtoms()
        if atom.GetAtomicNum() == 6
    )


def iter_chemistry(
    texts: Sequence[str],
    featurizer: Featurizer,
    limits: MoleculeLimits | None = None,
    parallel: ParallelOptions | None = None,
    with_forms: bool = False,
    with_graphs: bool = False,
) -> Iterator[ChemistryChunk]:
    """Chunks of results for ``texts``, in order, each yielded as soon as it is ready (worker processes
    for large inputs), so that a model can predict one chunk while the next is computed. ``with_forms``:
    also featurise input forms that differ from their parents (for a model with form-dependent endpoints);
    ``with_graphs``: also give each featurised molecule's graph (for a model with a graph member)."""
    prepare_alerts()
    prepare_properties()
    chunk = partial(_chemistry_chunk, featurizer, limits or MoleculeLimits(), with_forms, with_graphs)
    return iter_chunks(chunk, texts, description="profile", parallel=parallel)
