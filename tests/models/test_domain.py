"""The applicability domain's similarities are exact: the same float32 values as comparing a molecule with
every reference one by one, however the references are grouped, ordered or segmented to be fast."""

import numpy as np
import pytest

from fedadmet.inference import BUNDLED_MODEL, DOMAIN_COLUMN, ENDPOINT_DOMAIN_SUFFIX, predict
from fedadmet.models.domain import ApplicabilityDomain


def _one_by_one(reference: np.ndarray, members: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-reference Tanimoto similarity overall and per endpoint column, reference by reference."""
    counts = reference.sum(1, dtype=np.float32)
    overall = np.zeros(len(queries), np.float32)
    by_endpoint = np.zeros((len(queries), members.shape[1]), np.float32)
    for i, query in enumerate(queries):
        shared = (reference & query).sum(1).astype(np.uint16)
        union = counts + np.float32(query.sum()) - shared
        similarity = np.zeros(len(reference), np.float32)
        np.divide(shared, union, out=similarity, where=union > 0)
        overall[i] = similarity.max()
        for j in range(members.shape[1]):
            by_endpoint[i, j] = similarity[members[:, j]].max() if members[:, j].any() else 0.0
    return overall, by_endpoint


def test_nearest_reference_similarities_are_bit_identical_to_one_by_one_comparison() -> None:
    rng = np.random.default_rng(7)
    n_bits = 300
    density = rng.uniform(0.02, 0.3, size=(400, 1))  # many distinct bit counts per group
    reference = rng.uniform(size=(400, n_bits)) < density
    members = rng.uniform(size=(400, 5)) < 0.3  # ~2^5 groups of endpoints
    members[:, 4] = False  # an endpoint without references scores 0
    queries = np.vstack(
        [
            rng.uniform(size=(300, n_bits)) < rng.uniform(0.02, 0.3, size=(300, 1)),
            reference[:20],  # training molecules: similarity 1 where they trained
            np.ones((1, n_bits), bool),  # more than 255 bits: wider intersection counts
            np.zeros((1, n_bits), bool),  # no bits at all
        ]
    )
    domain = ApplicabilityDomain(
        np.packbits(reference, axis=1), n_bits, 0.3, tuple("abcde"), np.packbits(members, axis=1), np.full(5, 0.3)
    )
    scores = domain.score(queries.astype(np.float32) * 2)  # counts, not bits
    overall, by_endpoint = _one_by_one(reference, members, queries)
    assert scores.overall.tobytes() == overall.tobytes()
    for j, name in enumerate("abcde"):
        assert scores.by_endpoint[name].tobytes() == by_endpoint[:, j].tobytes(), name
        np.testing.assert_array_equal(scores.in_domain_by_endpoint[name], by_endpoint[:, j] >= 0.3)
    assert (scores.by_endpoint["a"][300:320][members[:20, 0]] == 1.0).all()
    assert (scores.by_endpoint["e"] == 0).all()


@pytest.mark.parametrize(
    ("smiles", "overall", "herg", "caco2", "half_life"),
    [
        ("CC(=O)Oc1ccccc1C(=O)O", 1.0, 0.3404255211353302, 0.3571428656578064, 1.0),
        ("Cn1c(=O)c2c(ncn2C)n(C)c1=O", 1.0, 1.0, 1.0, 1.0),  # caffeine: a Caco-2 training molecule since 2026-12-07
        ("FC(F)(F)C(F)(F)C(F)(F)C(F)(F)F", 0.875, 0.08571428805589676, 0.08695652335882187, 0.0833333358168602),
        (
            "O=C(NC1CCN(Cc2ccccc2)CC1)c1ccc2[nH]ccc2c1",
            0.6346153616905212,
            0.4769230782985687,
            0.30000001192092896,
            0.460317462682724,
        ),
    ],
)
def test_the_bundled_model_keeps_its_recorded_domain_values(
    smiles: str, overall: float, herg: float, caco2: float, half_life: float
) -> None:
    """Values the first per-endpoint domain (a similarity matrix over all references) gave, to the bit."""
    row = predict([smiles], model=BUNDLED_MODEL).iloc[0]
    assert row[DOMAIN_COLUMN] == overall
    assert row["hERG" + ENDPOINT_DOMAIN_SUFFIX] == herg
    assert row["Caco2_Wang" + ENDPOINT_DOMAIN_SUFFIX] == caco2
    assert row["Half_Life_Obach" + ENDPOINT_DOMAIN_SUFFIX] == half_life
