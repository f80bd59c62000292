"""Record-level DP-SGD at each partner (Opacus): its accountant, its refusals, one record's own loss, and a
small federation that keeps every partner's ε within the target and shows it."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from fedadmet.exceptions import InputError
from fedadmet.federated.config import FederationConfig, PrivacyConfig, RecordDpConfig
from fedadmet.federated.gain import JoiningGain, notes
from fedadmet.federated.partner_model import find_saved_model
from fedadmet.federated.privacy import RecordDpSchedule
from fedadmet.federated.protocol import RoundInfo
from fedadmet.federated.task import (
    PartnerData,
    build_net,
    record_dp_schedule,
    shared_arrays,
    train_local,
    train_private,
)
from fedadmet.federated.tasks.molecular import RECORD_DP_FILE, MolecularTask
from fedadmet.models.trunk import masked_multitask_loss, record_losses

SMALL = {"hidden_sizes": (32, 16), "batch_size": 64}


def record_dp(rounds: int = 3, **settings: float) -> FederationConfig:
    return FederationConfig(rounds=rounds, trunk=SMALL, record_dp={"target_epsilon": 8.0, **settings})


def test_the_accountants_epsilon_grows_with_rounds_and_ends_within_the_target() -> None:
    for accountant in ("rdp", "prv"):
        settings = RecordDpConfig(target_epsilon=4.0, accountant=accountant)
        schedule = RecordDpSchedule.of(settings, records=1000, batch_size=100, local_epochs=1, rounds=5, partner="p")
        assert schedule.sample_rate == pytest.approx(0.1) and schedule.steps_per_round == 10
        spent = [schedule.epsilon_after(r) for r in range(6)]
        assert spent[0] == 0.0 and all(a < b for a, b in itertools.pairwise(spent))
        assert 3.5 < spent[-1] <= 4.0  # the accountant's σ spends (nearly) all of the target, never more
    with pytest.raises(InputError, match="more rounds"):
        schedule.epsilon_after(6)


def test_invalid_settings_are_refused_with_a_clear_reason(partner_dirs: list[Path]) -> None:
    for bad in ({"target_epsilon": 0.0}, {"target_epsilon": -1.0}, {"target_epsilon": 8.0, "delta": 1.0}):
        with pytest.raises(ValidationError) as caught:
            RecordDpConfig(**bad)  # type: ignore[arg-type]
        assert caught.value.errors()[0]["loc"][-1] in bad
    with pytest.raises(ValidationError, match="not both"):
        FederationConfig(record_dp={"target_epsilon": 8.0}, privacy=PrivacyConfig(enabled=True))
    with pytest.raises(ValidationError, match="FedProx"):
        FederationConfig(record_dp={"target_epsilon": 8.0}, strategy="fedprox")
    # δ ≥ 1/n: the partner (which alone knows n) refuses before it trains, naming itself and its n.
    data = PartnerData.load(partner_dirs[0])
    n = len(data.rows("train"))
    with pytest.raises(InputError, match=f"partner0.*{n} training records"):
        record_dp_schedule(data, record_dp(delta=1 / n))
    session = MolecularTask().open_partner(partner_dirs[0], record_dp(delta=0.5).model_dump(), {})
    shared = MolecularTask().initial_parameters(record_dp().model_dump())
    with pytest.raises(InputError, match=r"δ 0\.5"):
        session.fit(shared, RoundInfo(1, "r", 1, 3, {}))
    with pytest.raises(ValueError, match="train_private"):
        train_local(build_net(data.features.shape[1], data.tasks, record_dp()), data, record_dp(), 1, 0)


def test_a_records_loss_depends_on_that_record_alone() -> None:
    """Per-task means weigh a record by how many others share its tasks: removing one record would change
    the others' gradients, which DP-SGD's per-record sensitivity does not allow."""
    torch.manual_seed(0)
    outputs = torch.randn(4, 2)
    targets = torch.tensor([[1.0, np.nan], [0.0, 0.5], [np.nan, -0.3], [1.0, 1.2]])
    kinds = torch.tensor([True, False])
    losses = record_losses(outputs, targets, kinds)
    assert torch.allclose(record_losses(outputs[1:], targets[1:], kinds), losses[1:])
    for i in range(4):  # a record's loss is the multitask loss of that record on its own
        assert float(losses[i]) == pytest.approx(
            float(masked_multitask_loss(outputs[i : i + 1], targets[i : i + 1], kinds))
        )
    assert float(record_losses(outputs[:1], torch.full((1, 2), np.nan), kinds)[0]) == 0.0


def test_private_training_moves_the_weights_and_leaves_no_opacus_state(partner_dirs: list[Path]) -> None:
    data = PartnerData.load(partner_dirs[0])
    config = record_dp()
    net = build_net(data.features.shape[1], data.tasks, config)
    before = shared_arrays(net)
    schedule = record_dp_schedule(data, config)
    metrics = train_private(net, data, config, schedule)
    assert metrics["noise_multiplier"] == schedule.noise_multiplier > 0
    assert "train_loss" not in metrics  # a statistic of the records outside the accounting
    after = shared_arrays(net)
    assert any(not np.allclose(before[k], after[k]) for k in before)
    assert not any(hasattr(p, "grad_sample") for p in net.parameters())
    assert list(net.state_dict()) == list(build_net(data.features.shape[1], data.tasks, config).state_dict())


@pytest.mark.slow
def test_a_record_dp_federation_finishes_within_the_target_and_shows_each_partners_epsilon(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    from fedadmet.workflows.federation import RunSettings, simulate
    from fedadmet.workflows.views import privacy_text, run_view

    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    settings = RunSettings(
        run_name="record-dp",
        n_partners=3,
        federation=record_dp(rounds=2, target_epsilon=4.0),
        checkpoint_dir=tmp_path / "checkpoints",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
    )
    run = simulate(partners, settings)
    assert run.status == "completed", run.error
    spent = [r.metrics["fit"] for r in run.rounds]
    assert all(set(fit) == {"partner0", "partner1", "partner2"} for fit in spent)
    for partner in ("partner0", "partner1", "partner2"):
        first, last = spent[0][partner]["epsilon"], spent[1][partner]["epsilon"]
        assert 0 < first < last <= 4.0
        assert "train_loss" not in spent[1][partner]
    assert run.model_version.metrics["record_level_epsilon"] <= 4.0
    assert run.model_version.metrics["record_level_delta"] == 1e-5
    # Each partner keeps its own record of what it spent, beside its model of the run.
    kept = json.loads((partners[0] / "federated_model" / "record-dp" / f"run-{run.id}" / RECORD_DP_FILE).read_text())
    assert kept["epsilon"] == spent[1]["partner0"]["epsilon"] and kept["rounds"] == 2
    model = find_saved_model(partners[0], f"record-dp/{run.id}")
    assert model.record_dp == kept  # what `federate gain` reports beside its table
    gain = JoiningGain("partner0", "record-dp", run.id, "core recipe", [], local_share=1.0, record_dp=model.record_dp)
    assert any(f"ε {kept['epsilon']:.2f} at δ 1e-05 over 2 rounds" in note for note in notes(gain))
    shown = run_view(run)
    assert shown.record_dp is not None and shown.record_dp["target_epsilon"] == 4.0
    assert set(shown.record_epsilon) == {"partner0", "partner1", "partner2"}
    assert "target ε 4.0" in privacy_text(shown) and "partner1" in privacy_text(shown)
    assert run_view(run, partner="partner1").record_epsilon.keys() == {"partner1"}  # others' stay hidden
