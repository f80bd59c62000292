"""Standardisation: row alignment of rejects, salt stripping, neutralisation, stereo and canonical identity."""

from __future__ import annotations

import pytest
from rdkit import Chem

import fedadmet.chem.parallel as parallel
from fedadmet.chem.parallel import ParallelOptions
from fedadmet.chem.standardize import (
    MoleculeLimits,
    standardisation_note,
    standardize_many,
    standardize_smiles,
    standardize_with_form,
)

# (input, substring the reject reason must contain); None means the row must be accepted.
MIXED_INPUT: list[tuple[object, str | None]] = [
    ("CCO", None),
    ("C1CC", "cannot parse"),  # unclosed ring
    ("", "empty"),
    (None, "missing"),
    (float("nan"), "missing"),
    (5, "must be text"),
    ("c1ccccc1", None),
    (".", "cannot parse"),  # no atoms at all: RDKit refuses the lone dot
    ("[*]", "no heavy atoms"),  # a dummy atom only
    ("[H][H]", "no heavy atoms"),
    ("C" * 500, "heavy atoms"),
    ("   ", "empty"),
    ("CCO", None),  # a repeat of an accepted value keeps its own row
    ("C1CC", "cannot parse"),  # a repeat of a rejected value is rejected again at its own index
]


@pytest.mark.parametrize("in_workers", [False, True], ids=["in-process", "worker-processes"])
def test_rejects_keep_row_alignment_and_name_the_problem(in_workers: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    options = ParallelOptions(n_jobs=1)
    if in_workers:  # small chunks in two worker processes: results must come back in input order
        options = ParallelOptions(n_jobs=2, parallel_threshold=2)
        monkeypatch.setattr(parallel, "_CHUNK", 3)
    values = [value for value, _ in MIXED_INPUT]
    batch = standardize_many(values, parallel=options)

    assert len(batch.smiles) == len(values)
    expected_rejects = {i for i, (_, reason) in enumerate(MIXED_INPUT) if reason is not None}
    assert {i for i, s in enumerate(batch.smiles) if s is None} == expected_rejects
    assert [r.index for r in batch.rejects] == sorted(expected_rejects)
    assert batch.valid_indices == sorted(set(range(len(values))) - expected_rejects)
    assert batch.smiles[0] == batch.smiles[12] == "CCO"
    assert batch.smiles[6] == "c1ccccc1"

    reasons = batch.reasons()
    for index, (_, expected) in enumerate(MIXED_INPUT):
        if expected is not None:
            assert expected in reasons[index], (index, reasons[index])


def test_large_molecule_reason_names_heavy_atom_count_and_limit() -> None:
    smiles, reason = standardize_smiles("C" * 500)
    assert smiles is None
    assert reason is not None
    assert "500 heavy atoms" in reason
    assert str(MoleculeLimits().max_heavy_atoms) in reason


def test_heavy_atom_limit_is_passed_in() -> None:
    """The limit is the caller's (the settings, read at the edge), in one molecule and in a batch alike."""
    limits = MoleculeLimits(max_heavy_atoms=5)
    assert standardize_smiles("CCCCC", limits) == ("CCCCC", None)
    smiles, reason = standardize_smiles("CCCCCC", limits)
    assert smiles is None
    assert "6 heavy atoms" in reason
    batch = standardize_many(["CCCCC", "CCCCCC"], limits)
    assert batch.smiles == ["CCCCC", None]
    assert "6 heavy atoms" in batch.reasons()[1]


def test_overlong_smiles_is_rejected_before_parsing() -> None:
    smiles, reason = standardize_smiles("C" * (MoleculeLimits().max_smiles_length + 1))
    assert smiles is None
    assert "longer than" in reason


def test_unparsable_reason_quotes_the_input() -> None:
    _, reason = standardize_smiles("not_a_smiles")
    assert "not_a_smiles" in reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("CCÖ", "'Ö' at position 3, which is no SMILES character"),  # RDKit alone reads ethane
        ("C\ud800", "'\\ud800' at position 2"),  # a lone surrogate, e.g. from escaped JSON
        ("CCO ethanol", "text after the SMILES 'CCO': 'ethanol' (a name belongs in its own column)"),
        ("CC(=O)Oc1ccccc1C(=O)O\tCCCC", "text after the SMILES"),  # RDKit alone reads aspirin
        ("[C+999]", "[C+999] has charge +999: no atom carries more than 8"),  # RDKit alone reads [C-25]
        ("[C+257]", "has charge +257"),  # RDKit alone reads [C+]
        ("[999999C]", "[999999C] has mass number 999999: no nucleus has more than 300"),
        ("CC[O-8]", "atom 3 (O) has charge -8, which no O atom carries"),
        ("C[Cl-2]", "atom 2 (Cl) has charge -2"),
        ("CC[N+6]", "atom 3 (N) has charge +6"),
    ],
)
def test_text_rdkit_would_misread_is_refused_with_the_reason(text: str, reason: str) -> None:
    smiles, why = standardize_smiles(text)
    assert smiles is None and reason in why


@pytest.mark.parametrize(
    "smiles",
    [
        "CCO |$;;X$|",  # CXSMILES extensions follow a space
        "[13CH3]O",
        "F[Si-2](F)(F)(F)(F)F.[Na+].[Na+]",  # hexafluorosilicate
        "F[Al-3](F)(F)(F)(F)F.CC[NH3+].CC[NH3+].CC[NH3+]",
        "CCC(=O)[O-].CCC(=O)[O-].[Mg+2]",
        "C[S+2](C)([O-])[O-]",
        "  CCO  ",  # surrounding white space is no name
    ],
)
def test_real_charges_isotopes_and_cxsmiles_are_read(smiles: str) -> None:
    parent, reason = standardize_smiles(smiles)
    assert parent is not None, reason


@pytest.mark.parametrize(
    ("salt", "parent"),
    [
        ("CC(=O)O.[Na+]", "CC(=O)O"),
        ("CC(=O)[O-].[Na+]", "CC(=O)O"),
        ("C[NH3+].[Cl-]", "CN"),
        ("[Cl-].C[NH3+]", "CN"),  # fragment order does not matter
        ("CC(=O)Oc1ccccc1C(=O)[O-].[Na+]", "CC(=O)Oc1ccccc1C(=O)O"),
    ],
)
def test_salts_are_stripped_to_the_neutral_parent(salt: str, parent: str) -> None:
    assert standardize_smiles(salt) == (parent, None)


@pytest.mark.parametrize(
    ("charged", "neutral"),
    [
        ("CC(=O)[O-]", "CC(=O)O"),
        ("C[NH3+]", "CN"),
        ("[NH3+]CC(=O)[O-]", "NCC(=O)O"),  # zwitterion
    ],
)
def test_charges_are_neutralised(charged: str, neutral: str) -> None:
    assert standardize_smiles(charged) == (neutral, None)


def test_permanent_charge_that_cannot_be_neutralised_is_kept() -> None:
    smiles, reason = standardize_smiles("C[N+](C)(C)C.[Cl-]")
    assert reason is None
    assert smiles == "C[N+](C)(C)C"


def test_stereo_is_kept_and_enantiomers_stay_distinct() -> None:
    l_form, _ = standardize_smiles("C[C@H](N)C(=O)O")
    d_form, _ = standardize_smiles("C[C@@H](N)C(=O)O")
    assert "@" in l_form
    assert "@" in d_form
    assert l_form != d_form
    # stereo survives salt stripping and neutralisation
    assert standardize_smiles("C[C@H]([NH3+])C(=O)O.[Cl-]")[0] == l_form


def test_double_bond_geometry_is_kept() -> None:
    trans, _ = standardize_smiles("C/C=C/C(=O)[O-].[Na+]")
    cis, _ = standardize_smiles("C/C=C\\C(=O)O")
    assert trans == "C/C=C/C(=O)O"
    assert trans != cis


@pytest.mark.parametrize(
    "spellings",
    [
        ("CCO", "OCC", "C(C)O", "  CCO  "),
        ("c1ccccc1O", "Oc1ccccc1", "C1=CC=CC=C1O", "OC1=CC=CC=C1"),
        ("CC(=O)Oc1ccccc1C(=O)O", "OC(=O)c1ccccc1OC(C)=O", "CC(=O)Oc1ccccc1C(=O)[O-].[K+]"),
    ],
)
def test_spellings_of_one_molecule_give_one_canonical_smiles(spellings: tuple[str, ...]) -> None:
    results = {standardize_smiles(s) for s in spellings}
    assert len(results) == 1
    (canonical, reason) = results.pop()
    assert reason is None
    assert standardize_smiles(canonical) == (canonical, None)  # canonical form is a fixed point


@pytest.mark.parametrize(
    ("labelled", "parent"),
    [("N[14C](N)=O", "NC(N)=O"), ("[2H]C([2H])([2H])N1CCC[C@H]1c1cccnc1", "CN1CCC[C@H]1c1cccnc1"), ("[2H]O[2H]", "O")],
)
def test_isotope_labels_are_standardised_away(labelled: str, parent: str) -> None:
    assert standardize_smiles(labelled) == (parent, None)


@pytest.mark.parametrize(
    ("drawn", "note"),
    [
        ("CCO", ""),
        ("[Na+].CC(=O)[O-]", "kept the largest organic fragment, removed [Na+]; neutralised charges"),
        ("Cl.Cl.NCCN", "kept the largest organic fragment, removed Cl.Cl"),
        ("[O-]C(=O)c1ccccc1", "neutralised charges"),
        ("C[N+](C)(C)C.[I-]", "kept the largest organic fragment, removed [I-]"),  # a quaternary ammonium stays
        ("O.O.C1CCNCC1", "kept the largest organic fragment, removed O.O"),
        ("N[14C](N)=O", "removed isotope labels"),
        (
            "[Na+].[2H]C([2H])([2H])C(=O)[O-]",
            "kept the largest organic fragment, removed [Na+]; removed isotope labels; neutralised charges",
        ),
    ],
)
def test_note_says_what_standardisation_changed(drawn: str, note: str) -> None:
    parent, form, _ = standardize_with_form(drawn)
    assert parent is not None and form is not None
    assert standardisation_note(Chem.MolFromSmiles(form), parent) == note
