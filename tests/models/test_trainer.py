"""The one training loop and target scaling of the model family, and censored labels in the central model."""

import numpy as np
import pandas as pd
import pytest
import torch

from fedadmet.models.fitting import fit_model
from fedadmet.models.labels import exact, relation_matrix
from fedadmet.models.targets import TargetScaling
from fedadmet.models.trunk import masked_multitask_loss
from tests.tiny_model import QUIET, TINY_CONFIG, tiny_frames


def test_without_censored_labels_the_one_loss_is_the_plain_masked_loss() -> None:
    generator = torch.Generator().manual_seed(0)
    outputs = torch.randn(64, 3, generator=generator)
    targets = torch.randn(64, 3, generator=generator)
    targets[:, 0] = (targets[:, 0] > 0).float()
    targets[::3, 1] = float("nan")
    kinds = torch.tensor([True, False, False])
    plain = masked_multitask_loss(outputs, targets, kinds)
    exact_relations = masked_multitask_loss(outputs, targets, kinds, torch.zeros(64, 3))
    assert torch.equal(plain, exact_relations)  # bit for bit, not merely close


def test_target_scaling_z_scores_regression_and_leaves_classifiers_alone() -> None:
    values = np.array([1.0, 2.0, np.nan, 3.0])
    scaling = TargetScaling.fit([np.array([0.0, 1.0, 1.0]), values, np.full(3, 5.0)], [True, False, False])
    assert (scaling.mean[0], scaling.std[0]) == (0.0, 1.0)  # a classifier keeps its 0/1 labels
    assert scaling.mean[1] == pytest.approx(2.0) and scaling.std[1] == pytest.approx(np.std([1.0, 2.0, 3.0]))
    assert scaling.std[2] == 1.0  # a constant target is not divided by zero
    np.testing.assert_allclose(scaling.unscale(1, scaling.scale(1, values)), values)
    outputs = scaling.outputs(np.array([[0.0, scaling.scale(1, np.array([3.0]))[0], 0.0]], dtype=np.float32))
    np.testing.assert_allclose(outputs, [[0.5, 3.0, 5.0]], rtol=1e-6)  # a probability and model-scale values


def test_a_molecule_is_a_bound_only_when_all_its_rows_are() -> None:
    frames = {
        "a": pd.DataFrame({"smiles": ["x", "x", "y", "z"], "y": [1.0, 2.0, 3.0, 4.0], "relation": [1, 1, -1, 0]}),
        "b": pd.DataFrame({"smiles": ["x", "x"], "y": [1.0, 2.0], "relation": [1, 0]}),
    }
    relations = relation_matrix(frames, ["a", "b"], ["x", "y", "z"])
    assert relations is not None
    assert relations.tolist() == [[1, 0], [-1, 0], [0, 0]]
    assert relation_matrix({"a": frames["a"].drop(columns="relation")}, ["a"], ["x"]) is None


def _every_fourth_caco2_row_a_lower_bound(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    bounds = {name: np.arange(len(frame)) % 4 == 0 if name == "Caco2_Wang" else False for name, frame in frames.items()}
    return {name: frame.assign(relation=np.where(bounds[name], 1, 0)) for name, frame in frames.items()}


def test_censored_labels_train_the_trunk_while_trees_and_scores_use_exact_values() -> None:
    train, valid = (_every_fourth_caco2_row_a_lower_bound(frames) for frames in tiny_frames())
    model = fit_model(train, valid, config=TINY_CONFIG, parallel=QUIET)
    assert model.heads["Caco2_Wang"].validation["n"] == len(exact(valid["Caco2_Wang"])) < len(valid["Caco2_Wang"])
    assert model.heads["hERG"].validation["n"] == len(valid["hERG"])
    assert model.metadata["trunk_rows"]["Caco2_Wang"] == len(train["Caco2_Wang"])  # bounds still teach the trunk
