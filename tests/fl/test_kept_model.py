"""The model a partner keeps: the federated trunk with its heads refitted on it, trained on at the partner
where that validates better, and blended with CatBoost over its features only where the blend scores better
on the partner's validation fold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fedadmet.federated.config import FederationConfig
from fedadmet.federated.partner_model import (
    TREES_FOLDER,
    TUNED_RECORD_FILE,
    TUNED_WEIGHTS_FILE,
    choose_tree_blend,
    find_saved_model,
    kept_model,
    partner_trees,
)
from fedadmet.federated.task import (
    PartnerData,
    build_net,
    load_arrays,
    mean_score,
    predict_scaled,
    private_arrays,
    refit_heads,
    score_tasks,
    shared_arrays,
    train_with_selection,
)
from fedadmet.federated.tasks.molecular import keep_partner_model
from fedadmet.models.config import GBMConfig, ModelConfig

FEDERATION = FederationConfig(rounds=3, trunk={"hidden_sizes": (32, 16)})
SMALL_TREES = ModelConfig(gbm=GBMConfig(iterations=60, depth=4))
STUMP = GBMConfig(iterations=1, depth=1)  # one split: too weak to beat a trained head


@pytest.fixture(scope="module")
def trained(partner_dirs: list[Path]) -> tuple[PartnerData, PartnerData, object, object]:
    first, second = PartnerData.load(partner_dirs[0]), PartnerData.load(partner_dirs[1])
    return first, second, train_with_selection(first, FEDERATION, 8)[0], train_with_selection(second, FEDERATION, 8)[0]


def test_refitted_heads_fit_the_aggregated_trunk_and_never_lower_validation(trained) -> None:
    data, _, own, other = trained
    # The aggregate of two partners' trunks, with the heads this partner trained against its own trunk:
    # what a node held before this fix.
    mean_trunk = {k: (v + shared_arrays(other)[k]) / 2 for k, v in shared_arrays(own).items()}
    net = build_net(data.features.shape[1], data.tasks, FEDERATION)
    load_arrays(net, private_arrays(own), shared=False)
    load_arrays(net, mean_trunk, shared=True)
    stale = mean_score(data, predict_scaled(net, data.features), "valid")

    before, after = refit_heads(net, data, FEDERATION)

    assert before == pytest.approx(stale)
    assert after == pytest.approx(mean_score(data, predict_scaled(net, data.features), "valid"))
    assert after > stale  # heads fitted to the trunk they are kept with score better on validation
    assert all(np.array_equal(v, mean_trunk[k]) for k, v in shared_arrays(net).items())  # the trunk stays as sent
    assert any(not np.array_equal(v, private_arrays(own)[k]) for k, v in private_arrays(net).items())
    assert all(p.requires_grad for p in net.parameters())  # trainable again afterwards


def test_the_partner_trains_its_copy_of_the_trunk_on_without_lowering_validation(trained) -> None:
    data, _, _, other = trained
    net = build_net(data.features.shape[1], data.tasks, FEDERATION)
    load_arrays(net, shared_arrays(other), shared=True)  # another partner's trunk: a poor fit for this one
    received = shared_arrays(net)

    before, after = refit_heads(net, data, FEDERATION, trunk_too=True)

    assert after > before
    assert after == pytest.approx(mean_score(data, predict_scaled(net, data.features), "valid"))
    assert any(not np.array_equal(v, received[k]) for k, v in shared_arrays(net).items())  # the trunk trained on


def test_trees_blend_in_where_they_score_better_on_validation(trained, partner_dirs: list[Path], tmp_path) -> None:
    data = trained[0]
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    trees = partner_trees(folder, data, SMALL_TREES, seed=0, n_jobs=1)
    untrained = build_net(data.features.shape[1], data.tasks, FEDERATION)  # heads that predict noise
    weight, choices = choose_tree_blend(untrained, data, trees, (0.25, 0.5, 0.75, 1.0))
    network = score_tasks(data, predict_scaled(untrained, data.features), "valid")
    assert [c.endpoint for c in choices] == data.tasks
    assert all(c.network == pytest.approx(network[c.endpoint], rel=1e-5) and c.blended is not None for c in choices)
    assert all(c.uses_trees for c in choices)  # trees beat random heads on both endpoints
    assert weight == 1.0  # and the rank rule gives them all the weight


def test_the_network_alone_stays_where_the_blend_scores_worse(trained, partner_dirs: list[Path], tmp_path) -> None:
    data, _, net, _ = trained
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    stumps = partner_trees(folder, data, SMALL_TREES.model_copy(update={"gbm": STUMP}), seed=0, n_jobs=1)
    _, choices = choose_tree_blend(net, data, stumps, (1.0,))  # trees alone: one split against a trained head
    assert all(c.blended is not None and c.blended <= c.network for c in choices), choices
    assert not any(c.uses_trees for c in choices)


def test_the_kept_model_predicts_with_its_chosen_heads_and_keeps_them(partner_dirs: list[Path], tmp_path: Path) -> None:
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    data = PartnerData.load(folder)
    untrained = build_net(data.features.shape[1], data.tasks, FEDERATION)
    keep_partner_model(folder, "consortium", 1, untrained, {"valid_score": 0.0}, FEDERATION, 1)
    keep_partner_model(folder, "consortium", 2, untrained, {"valid_score": 0.0}, FEDERATION, 1)
    saved = find_saved_model(folder, 1)

    kept = kept_model(saved, data, SMALL_TREES)
    outputs = kept.outputs(data.features)
    assert kept.network_tuned and (saved.folder / TUNED_WEIGHTS_FILE).is_file()
    assert mean_score(data, outputs, "valid") > mean_score(data, predict_scaled(untrained, data.features), "valid")
    (choice_file,) = saved.folder.glob("head_choice-*.json")
    recorded = json.loads(choice_file.read_text())
    assert [c["endpoint"] for c in recorded["choices"]] == data.tasks
    assert recorded["gbm_weight"] == kept.gbm_weight

    again = kept_model(saved, data, SMALL_TREES)  # read back, not fitted again
    np.testing.assert_allclose(again.outputs(data.features), outputs, rtol=1e-6)
    assert again.choices == kept.choices
    kept_model(find_saved_model(folder, 2), data, SMALL_TREES)  # another run blends with the same trees
    assert len(list((folder / TREES_FOLDER).iterdir())) == 1

    # Other trees (another size) blend with the same tuned network: it is not trained again.
    tuned_record = (saved.folder / TUNED_RECORD_FILE).read_text()
    tuned_weights = (saved.folder / TUNED_WEIGHTS_FILE).read_bytes()
    kept_model(saved, data, SMALL_TREES.model_copy(update={"gbm": STUMP}))
    assert (saved.folder / TUNED_RECORD_FILE).read_text() == tuned_record
    assert (saved.folder / TUNED_WEIGHTS_FILE).read_bytes() == tuned_weights
    assert len(list(saved.folder.glob("head_choice-*.json"))) == 2
    assert len(list((folder / TREES_FOLDER).iterdir())) == 2
