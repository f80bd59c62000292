import subprocess
import sys

import numpy as np
import pytest
import torch

from fedadmet.models.trunk import MultitaskNet
from fedadmet.models.trunk_weights import NetworkEnsemble, TrunkWeights


def test_numpy_forward_matches_the_torch_network_in_eval_mode() -> None:
    torch.manual_seed(0)
    net = MultitaskNet(40, ["hERG", "Caco2_Wang", "AMES"], hidden_sizes=[32, 16], dropout=0.3, input_dropout=0.1)
    net.eval()
    features = np.random.default_rng(0).normal(size=(9, 40)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.as_tensor(features)).numpy()
    np.testing.assert_allclose(net.weights()(features), expected, rtol=1e-5, atol=1e-5)
    assert net.weights()(features[:0]).shape == (0, 3)


def test_prediction_does_not_import_torch(tiny_model_dir) -> None:
    script = (
        "import sys\n"
        "from fedadmet.inference import predict\n"
        f"predict(['CCO', 'c1ccccc1O'], model={str(tiny_model_dir)!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def _network(tasks: list[str], seed: int) -> TrunkWeights:
    torch.manual_seed(seed)
    return MultitaskNet(12, tasks, hidden_sizes=[8], dropout=0.0, input_dropout=0.0).weights()


def test_an_ensemble_predicts_its_members_mean_and_one_member_as_itself() -> None:
    tasks = ["hERG", "Caco2_Wang"]
    members = [_network(tasks, seed) for seed in (0, 1, 2)]
    features = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    outputs = [member(features) for member in members]
    assert not np.allclose(outputs[0], outputs[1])  # seeds give different networks
    np.testing.assert_allclose(NetworkEnsemble(members)(features), np.mean(outputs, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(NetworkEnsemble(members[:1])(features), outputs[0])
    assert NetworkEnsemble(members).tasks == tasks and len(NetworkEnsemble(members)) == 3


def test_an_ensemble_refuses_members_over_other_tasks() -> None:
    with pytest.raises(ValueError, match="same tasks"):
        NetworkEnsemble([_network(["hERG"], 0), _network(["AMES"], 1)])
    with pytest.raises(ValueError, match="at least one"):
        NetworkEnsemble([])
