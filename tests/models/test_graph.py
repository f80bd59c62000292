import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import Crippen

from fedadmet.chem.graphs import ATOM_FEATURES, BOND_FEATURES, GraphBatch, graphs_from_smiles
from fedadmet.models.config import GraphConfig
from fedadmet.models.graph import GraphNet, GraphTasks, fit_graph_net, random_split

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "[Na+]", "CN1CCC[C@H]1c1cccnc1", "C"]


def test_a_molecule_has_two_directed_bonds_per_bond_each_the_others_reverse() -> None:
    ethanol, benzene = graphs_from_smiles(["CCO", "c1ccccc1"])
    assert ethanol.atoms.shape == (3, ATOM_FEATURES) and ethanol.bonds.shape == (4, BOND_FEATURES)
    assert list(zip(ethanol.source, ethanol.target, strict=True)) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    batch = GraphBatch.of([ethanol, benzene])
    assert batch.molecules == 2 and list(batch.molecule) == [0] * 3 + [1] * 6
    assert batch.source[4] == 3  # benzene's first bond starts at its own first atom, after ethanol's three
    assert np.array_equal(batch.source[batch.reverse], batch.target)


def test_unparsable_or_empty_smiles_have_no_graph() -> None:
    assert graphs_from_smiles(["not a molecule", "", "CCO"])[:2] == [None, None]


def _net(extra: int = 0) -> GraphNet:
    torch.manual_seed(0)
    net = GraphNet(["LogD", "AMES"], GraphConfig(hidden_size=16, ffn_hidden_size=8, depth=3), extra)
    return net.eval()


@pytest.mark.parametrize("extra_features", [0, 3])
def test_numpy_forward_matches_the_torch_network(extra_features: int) -> None:
    net, graphs = _net(extra_features), graphs_from_smiles(SMILES)
    extra = np.random.default_rng(0).normal(size=(len(SMILES), extra_features)).astype(np.float32)
    with torch.no_grad():
        expected = net(GraphBatch.of(graphs), torch.as_tensor(extra) if extra_features else None).numpy()
    np.testing.assert_allclose(net.weights()(graphs, extra if extra_features else None), expected, atol=1e-5)


def test_a_prediction_depends_on_the_molecule_only_not_its_atom_order_or_batch() -> None:
    weights = _net().weights()
    # (without stereo: RDKit's chiral tag is relative to the atom order; the model reads canonical SMILES)
    nicotine = weights(graphs_from_smiles(["CN1CCCC1c1cccnc1"]))
    reordered = weights(graphs_from_smiles(["c1ncccc1C1CCCN1C", "CCO", None]))  # type: ignore[list-item]
    np.testing.assert_allclose(reordered[0], nicotine[0], atol=1e-5)
    assert np.isnan(reordered[2]).all() and not np.isnan(reordered[:2]).any()


def test_the_network_learns_a_property_of_the_graph() -> None:
    """Crippen logP is a sum over atom environments: a working D-MPNN ranks held-out molecules by it (well, not
    perfectly: averaging over atoms hides the molecule's size)."""
    rng = np.random.default_rng(0)
    pieces = ["C", "CC", "O", "N", "c1ccccc1", "C(=O)O", "Cl", "F", "C(=O)N", "OC", "c1ccncc1", "S"]
    smiles = sorted({"".join(rng.choice(pieces, size=rng.integers(2, 7))) for _ in range(500)})
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    smiles = [s for s, m in zip(smiles, mols, strict=True) if m is not None]
    logp = np.array([Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in smiles], dtype=np.float32)
    scaled = ((logp - logp.mean()) / logp.std())[:, None]
    held_out = np.arange(len(smiles)) % 5 == 0
    graphs = graphs_from_smiles(smiles)
    config = GraphConfig(hidden_size=32, ffn_hidden_size=32, max_epochs=10, batch_size=32, warmup_epochs=1)
    train = GraphTasks(
        [g for g, h in zip(graphs, held_out, strict=True) if not h], scaled[~held_out], np.array([False])
    )
    net, curve = fit_graph_net(["logP"], *random_split(train, 0.1, seed=0), config, seed=0, progress=False)
    predicted = net.weights()([g for g, h in zip(graphs, held_out, strict=True) if h])[:, 0]
    assert curve[-1] < curve[0]
    assert np.corrcoef(predicted, scaled[held_out, 0])[0, 1] > 0.7
