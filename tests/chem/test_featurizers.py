"""Featurizers agree with direct RDKit calls; feature computation caches, keeps row order and parallelises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Avalon import pyAvalonTools
from rdkit.Chem import Descriptors, rdFingerprintGenerator, rdReducedGraphs

import fedadmet.chem.compute as compute
import fedadmet.chem.parallel as parallel
from fedadmet.chem.compute import FeatureCache, compute_features
from fedadmet.chem.featurizers import (
    FAST_DESCRIPTOR_NAMES,
    LEAN_DESCRIPTOR_NAMES,
    AvalonCountFeaturizer,
    ErGFeaturizer,
    FeatureSet,
    MorganCountFeaturizer,
    RDKit2DFeaturizer,
    default_feature_set,
    feature_set_for,
    full_feature_set,
)
from fedadmet.chem.parallel import ParallelOptions
from tests.spy_pool import SpyPool

SERIAL = ParallelOptions(n_jobs=1)
MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "O=C(O)CCc1c[nH]c2ccccc12"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def _canonical_series(n: int) -> list[str]:
    """n distinct canonical SMILES: alkyl chains of growing length on a few ring systems."""
    rings = ["c1ccccc1", "C1CCNCC1", "c1ccncc1", "C1CCOC1"]
    return [Chem.CanonSmiles("C" * (i // len(rings) + 1) + rings[i % len(rings)]) for i in range(n)]


@pytest.mark.parametrize("smiles", MOLECULES)
def test_morgan_matches_rdkit_generator(smiles: str) -> None:
    mol = Chem.MolFromSmiles(smiles)
    expected = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024).GetCountFingerprintAsNumPy(mol)
    got = MorganCountFeaturizer()(mol)
    assert got.dtype == np.float32
    assert got.shape == (1024,)
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert got.sum() > 0


@pytest.mark.parametrize("smiles", MOLECULES)
def test_avalon_matches_rdkit(smiles: str) -> None:
    mol = Chem.MolFromSmiles(smiles)
    fingerprint = pyAvalonTools.GetAvalonCountFP(mol, nBits=1024)
    expected = np.zeros(1024, dtype=np.float32)
    for bit, count in fingerprint.GetNonzeroElements().items():
        expected[bit] = count
    got = AvalonCountFeaturizer()(mol)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    assert got.sum() > 0


@pytest.mark.parametrize("smiles", MOLECULES)
def test_erg_matches_rdkit(smiles: str) -> None:
    mol = Chem.MolFromSmiles(smiles)
    expected = np.asarray(rdReducedGraphs.GetErGFingerprint(mol), dtype=np.float32)
    got = ErGFeaturizer()(mol)
    assert got.shape == (len(ErGFeaturizer()),) == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["MolWt", "MolLogP", "TPSA", "NumHDonors", "NumHAcceptors", "RingCount"])
def test_descriptors_match_rdkit_by_name(name: str) -> None:
    assert name in FAST_DESCRIPTOR_NAMES
    featurizer = RDKit2DFeaturizer()
    column = featurizer.names.index(name)
    for smiles in MOLECULES:
        mol = Chem.MolFromSmiles(smiles)
        expected = getattr(Descriptors, name)(mol)
        assert featurizer(mol)[column] == pytest.approx(expected, rel=1e-6, abs=1e-5)


@pytest.mark.parametrize("smiles", [*MOLECULES, "[Na+].[Cl-]", "C", "C12C3C4C1C5C2C3C45"])
def test_every_descriptor_is_rdkits_own_value(smiles: str) -> None:
    """Descriptors computed faster here (EState, Balaban's J) or with RDKit's caches give RDKit's values exactly."""
    functions = dict(Descriptors.descList)
    expected = []
    for name in FAST_DESCRIPTOR_NAMES:
        try:
            expected.append(functions[name](Chem.MolFromSmiles(smiles)))  # a fresh molecule: nothing cached
        except (ValueError, RuntimeError, ZeroDivisionError):
            expected.append(0.0)
    expected = np.clip(np.nan_to_num(np.asarray(expected, dtype=np.float64)), -1e30, 1e30).astype(np.float32)
    np.testing.assert_array_equal(RDKit2DFeaturizer()(Chem.MolFromSmiles(smiles)), expected)


def test_descriptor_values_for_a_known_molecule() -> None:
    featurizer = RDKit2DFeaturizer(["MolWt", "TPSA", "NumHDonors"])
    values = featurizer(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))  # aspirin
    np.testing.assert_allclose(values, [180.159, 63.6, 1.0], atol=0.01)


def test_slow_descriptors_are_left_out_and_unknown_names_refused() -> None:
    assert "MolWt" in FAST_DESCRIPTOR_NAMES
    assert not {"qed", "Ipc", "BertzCT"} & set(FAST_DESCRIPTOR_NAMES)
    assert len(FAST_DESCRIPTOR_NAMES) == len(set(FAST_DESCRIPTOR_NAMES))
    with pytest.raises(ValueError, match="NotADescriptor"):
        RDKit2DFeaturizer(["MolWt", "NotADescriptor"])


def test_descriptor_output_is_always_finite() -> None:
    mol = Chem.MolFromSmiles("C" * 140)  # large enough for unstable descriptors to misbehave
    assert np.isfinite(RDKit2DFeaturizer()(mol)).all()


@pytest.mark.parametrize(
    "featurizer",
    [
        MorganCountFeaturizer(),
        MorganCountFeaturizer(radius=3, n_bits=512),
        AvalonCountFeaturizer(n_bits=256),
        ErGFeaturizer(),
        RDKit2DFeaturizer(),
        default_feature_set(),
    ],
    ids=lambda f: f.signature[:40],
)
def test_output_length_is_fixed_and_equals_len(featurizer) -> None:
    lengths = {featurizer(Chem.MolFromSmiles(s)).shape for s in [*MOLECULES, "C", "[Na+]"]}
    assert lengths == {(len(featurizer),)}


def test_feature_set_blocks_line_up_with_each_featurizer() -> None:
    feature_set = default_feature_set()
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    vector = feature_set(mol)
    assert vector.shape == (len(feature_set),)
    covered = 0
    for featurizer in feature_set.featurizers:
        block = feature_set.block(featurizer.name)
        assert block.start == covered
        np.testing.assert_array_equal(vector[block], featurizer(mol))
        covered = block.stop
    assert covered == len(feature_set)
    with pytest.raises(KeyError, match="maccs"):
        feature_set.block("maccs")


def test_a_smaller_feature_set_reads_the_same_values_from_a_larger_sets_columns() -> None:
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    whole = full_feature_set()
    vector = whole(mol)
    for part in (
        default_feature_set(),
        FeatureSet([MorganCountFeaturizer(), RDKit2DFeaturizer(LEAN_DESCRIPTOR_NAMES)]),
        FeatureSet([RDKit2DFeaturizer(["MolLogP", "TPSA"])]),
    ):
        np.testing.assert_array_equal(vector[whole.columns_of(part)], part(mol))
    with pytest.raises(KeyError, match="morgan-r3"):
        whole.columns_of(FeatureSet([MorganCountFeaturizer(radius=3)]))


def test_signature_changes_with_parameters() -> None:
    signatures = {
        MorganCountFeaturizer().signature,
        MorganCountFeaturizer(radius=3).signature,
        MorganCountFeaturizer(n_bits=2048).signature,
        AvalonCountFeaturizer().signature,
        AvalonCountFeaturizer(n_bits=512).signature,
        RDKit2DFeaturizer().signature,
        RDKit2DFeaturizer(["MolWt", "TPSA"]).signature,
        RDKit2DFeaturizer(["TPSA", "MolWt"]).signature,  # column order changes the output, so the signature
    }
    assert len(signatures) == 8


def test_signature_and_cache_folder_are_stable_across_processes(tmp_path: Path) -> None:
    feature_set = default_feature_set()
    script = (
        "from pathlib import Path\n"
        "from fedadmet.chem.compute import FeatureCache\n"
        "from fedadmet.chem.featurizers import default_feature_set\n"
        "signature = default_feature_set().signature\n"
        "print(signature)\n"
        "print(FeatureCache(Path('root'), signature).folder.name)\n"
    )
    expected = [feature_set.signature, FeatureCache(Path("root"), feature_set.signature).folder.name]
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout.split() == expected


def test_compute_features_rows_align_with_input_including_duplicates() -> None:
    featurizer = MorganCountFeaturizer()
    smiles = ["c1ccccc1O", "CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CCO"]
    matrix = compute_features(smiles, featurizer, parallel=SERIAL)
    assert matrix.shape == (5, 1024)
    assert matrix.dtype == np.float32
    for row, s in zip(matrix, smiles, strict=True):
        np.testing.assert_array_equal(row, featurizer(Chem.MolFromSmiles(s)))
    assert not np.array_equal(matrix[0], matrix[1])


def test_compute_features_of_nothing_is_an_empty_matrix_of_the_right_width() -> None:
    assert compute_features([], ErGFeaturizer()).shape == (0, 315)


def test_cache_returns_identical_rows_without_recomputing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    featurizer = default_feature_set()
    smiles = ["CCO", "c1ccccc1O", "CCO", "CN1CCC[C@H]1c1cccnc1"]
    first = compute_features(smiles, featurizer, parallel=SERIAL, cache_dir=tmp_path)

    def must_not_run(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("features were recomputed although they are cached")

    monkeypatch.setattr(compute, "_featurize_chunk", must_not_run)
    second = compute_features(list(reversed(smiles)), featurizer, parallel=SERIAL, cache_dir=tmp_path)
    np.testing.assert_array_equal(second, first[::-1])


def test_cache_only_computes_molecules_it_has_not_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    featurizer = MorganCountFeaturizer()
    compute_features(["CCO", "c1ccccc1O"], featurizer, parallel=SERIAL, cache_dir=tmp_path)

    computed: list[str] = []
    real = compute._featurize_chunk

    def counting(featurizer_, smiles_):
        computed.extend(smiles_)
        return real(featurizer_, smiles_)

    monkeypatch.setattr(compute, "_featurize_chunk", counting)
    matrix = compute_features(["CCN", "CCO", "CCN", "c1ccccc1O"], featurizer, parallel=SERIAL, cache_dir=tmp_path)
    assert computed == ["CCN"]
    np.testing.assert_array_equal(matrix[0], featurizer(Chem.MolFromSmiles("CCN")))
    np.testing.assert_array_equal(matrix[1], featurizer(Chem.MolFromSmiles("CCO")))


def test_cache_is_separate_per_signature(tmp_path: Path) -> None:
    small, large = MorganCountFeaturizer(n_bits=64), MorganCountFeaturizer(n_bits=128)
    assert compute_features(["CCO"], small, parallel=SERIAL, cache_dir=tmp_path).shape == (1, 64)
    assert compute_features(["CCO"], large, parallel=SERIAL, cache_dir=tmp_path).shape == (1, 128)
    assert FeatureCache(tmp_path, small.signature).folder != FeatureCache(tmp_path, large.signature).folder
    assert set(FeatureCache(tmp_path, small.signature).load()) == {"CCO"}


def test_parallel_path_gives_the_serial_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    smiles = _canonical_series(14)
    smiles += smiles[:3]  # duplicates across chunks
    featurizer = FeatureSet([MorganCountFeaturizer(n_bits=256), ErGFeaturizer()])
    serial = compute_features(smiles, featurizer, parallel=ParallelOptions(n_jobs=1))

    monkeypatch.setattr(parallel, "_CHUNK", 4)  # several chunks, so their order matters
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", SpyPool)
    SpyPool.created = 0
    in_workers = compute_features(smiles, featurizer, parallel=ParallelOptions(n_jobs=2, parallel_threshold=10))

    assert SpyPool.created == 1, "the parallel path was not taken"
    np.testing.assert_array_equal(in_workers, serial)


def test_small_inputs_stay_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", SpyPool)
    SpyPool.created = 0
    options = ParallelOptions(n_jobs=2, parallel_threshold=10)
    compute_features(_canonical_series(9), MorganCountFeaturizer(n_bits=64), parallel=options)
    assert SpyPool.created == 0


def test_the_lean_default_keeps_the_full_sets_values_bit_for_bit_and_both_load_by_signature() -> None:
    lean, full = default_feature_set(), full_feature_set()
    assert len(lean) < len(full) and lean.signature.startswith("morgan-r2-1024-count+avalon-1024-count+erg-315+")
    assert not any(name.startswith(("Chi", "Kappa", "fr_", "FpDensityMorgan")) for name in LEAN_DESCRIPTOR_NAMES)
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    lean_row, full_row = lean(Chem.Mol(mol)), full(Chem.Mol(mol))
    for block in ("morgan", "avalon", "erg"):
        np.testing.assert_array_equal(lean_row[lean.block(block)], full_row[full.block(block)])
    full_2d = dict(zip(FAST_DESCRIPTOR_NAMES, full_row[full.block("rdkit2d")], strict=True))
    np.testing.assert_array_equal(lean_row[lean.block("rdkit2d")], [full_2d[name] for name in LEAN_DESCRIPTOR_NAMES])
    assert feature_set_for(full.signature).signature == full.signature  # models trained before still load
    assert feature_set_for(lean.signature).signature == lean.signature
    assert feature_set_for("morgan-r3-2048-count") is None
