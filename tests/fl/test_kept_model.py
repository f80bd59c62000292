"""The model a partner keeps: the federated trunk with its heads refitted on it, and CatBoost heads over
[features + embedding] only where they score better on the partner's validation fold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fedadmet.federated.config import FederationConfig
from fedadmet.federated.partner_model import (
    EMBEDDING_HEADS_FILE,
    HEAD_CHOICE_FILE,
    find_saved_model,
    fit_embedding_heads,
    kept_model,
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
from fedadmet.models.config import GBMConfig

FEDERATION = FederationConfig(rounds=3, trunk={"hidden_sizes": (32, 16)})
SMALL_TREES = GBMConfig(iterations=60, depth=4)
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


def test_catboost_heads_are_chosen_where_they_score_better_on_validation(trained) -> None:
    data = trained[0]
    untrained = build_net(data.features.shape[1], data.tasks, FEDERATION)  # heads that predict noise
    forest, choices = fit_embedding_heads(untrained, data, SMALL_TREES)
    network = score_tasks(data, predict_scaled(untrained, data.features), "valid")
    assert [c.endpoint for c in choices] == data.tasks
    assert all(c.network == pytest.approx(network[c.endpoint]) and c.catboost is not None for c in choices)
    assert all(c.uses_catboost == (c.catboost > c.network) for c in choices)
    assert all(c.uses_catboost for c in choices)  # trees beat random heads on both endpoints
    assert forest is not None and list(forest.heads) == data.tasks


def test_the_network_head_stays_where_catboost_scores_worse(trained) -> None:
    data, _, net, _ = trained
    forest, choices = fit_embedding_heads(net, data, STUMP)
    assert all(c.catboost is not None and c.catboost <= c.network for c in choices), choices
    assert not any(c.uses_catboost for c in choices) and forest is None


def test_the_kept_model_predicts_with_its_chosen_heads_and_keeps_them(partner_dirs: list[Path], tmp_path: Path) -> None:
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    data = PartnerData.load(folder)
    untrained = build_net(data.features.shape[1], data.tasks, FEDERATION)
    keep_partner_model(folder, "consortium", 1, untrained, {"valid_score": 0.0}, FEDERATION, 1)
    saved = find_saved_model(folder, 1)

    kept = kept_model(saved, data, SMALL_TREES)
    outputs = kept.outputs(data.features)
    assert kept.forest is not None and set(kept.forest.heads) == set(data.tasks)
    assert mean_score(data, outputs, "valid") > mean_score(data, predict_scaled(untrained, data.features), "valid")
    recorded = json.loads((saved.folder / HEAD_CHOICE_FILE).read_text())
    assert [c["endpoint"] for c in recorded["choices"]] == data.tasks
    assert (saved.folder / EMBEDDING_HEADS_FILE).is_file()

    again = kept_model(saved, data, SMALL_TREES)  # read back, not fitted again
    np.testing.assert_allclose(again.outputs(data.features), outputs, rtol=1e-6)
    assert again.choices == kept.choices
