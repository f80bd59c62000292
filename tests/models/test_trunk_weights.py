import subprocess
import sys

import numpy as np
import torch

from fedadmet.models.trunk import MultitaskNet


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
