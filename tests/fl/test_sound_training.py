"""Sound federated training: a partner's heads and optimiser state survive a node restart, FedAdam's server
moments survive a coordinator restart, the learning rate follows a schedule over the planned rounds, and a
run stops once the consortium's validation score stops improving."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from flwr.common import Code, EvaluateRes, Status, parameters_to_ndarrays

from fedadmet.federated.checkpoints import Checkpoint
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.protocol import RoundInfo
from fedadmet.federated.strategy import Convergence, RecordingStrategy
from fedadmet.federated.task import OPTIMIZER_PREFIX, PartnerData, build_net, round_optimizer
from fedadmet.federated.tasks.molecular import NODE_STATE_FILE, MolecularTask, partner_model_folder
from fedadmet.workflows.federation import RegistryRecorder
from tests.fl.test_strategies import fit_result, opened_strategy

SMALL = {"hidden_sizes": (16, 8), "batch_size": 64}


def steps_taken(private: dict[str, np.ndarray]) -> int:
    return int(next(v for k, v in private.items() if k.startswith(OPTIMIZER_PREFIX) and k.endswith(".step"))[0])


def test_a_restarted_node_resumes_with_its_heads_and_optimiser(partner_dirs: list[Path], tmp_path: Path) -> None:
    """Heads lived only in node memory: a restarted node started them (and a fresh AdamW) from scratch."""
    import shutil

    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    options = FederationConfig(rounds=3, trunk=SMALL).model_dump(mode="json")
    task = MolecularTask()
    shared = task.initial_parameters(options)
    first = RoundInfo(1, "sound", 7, 3, options)
    trained = task.open_partner(folder, options, {}).fit(shared, first)
    heads = {k: v for k, v in trained.private.items() if k.startswith("heads.")}
    batches = int(np.ceil(len(PartnerData.load(folder).rows("train")) / SMALL["batch_size"]))
    assert heads and steps_taken(trained.private) == batches
    assert (partner_model_folder(folder, "sound", 7) / NODE_STATE_FILE).is_file()

    restarted = task.open_partner(folder, options, {})  # a new node process: nothing in memory
    second = RoundInfo(2, "sound", 7, 3, options)
    net = restarted._net(trained.parameters, restarted._node_state(second))
    assert all(np.array_equal(net.state_dict()[k].numpy(), v) for k, v in heads.items())
    again = restarted.fit(trained.parameters, second)
    assert steps_taken(again.private) == 2 * batches  # the same AdamW carried on, not a fresh one
    # Another run of the same partner has its own state.
    assert task.open_partner(folder, options, {})._node_state(RoundInfo(1, "sound", 8, 3, options)) == {}


def test_the_learning_rate_follows_a_cosine_over_the_planned_rounds(partner_dirs: list[Path]) -> None:
    config = FederationConfig(rounds=5, learning_rate=1e-3, trunk=SMALL)
    rates = [config.round_learning_rate(r) for r in range(1, 6)]
    assert rates[0] == pytest.approx(1e-3) and rates[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in itertools.pairwise(rates))
    constant = config.model_copy(update={"learning_rate_schedule": "constant"})
    assert {constant.round_learning_rate(r) for r in range(1, 6)} == {1e-3}
    # The round's rate reaches the optimiser, also when it carries on the partner's saved moments.
    data = PartnerData.load(partner_dirs[0])
    net = build_net(data.features.shape[1], data.tasks, config)
    fresh = round_optimizer(net, config, 1, {})
    from fedadmet.federated.task import optimizer_arrays, train_local

    train_local(net, data, config, 1, 1, optimizer=fresh)
    carried = round_optimizer(net, config, 4, optimizer_arrays(net, fresh))
    assert carried.param_groups[0]["lr"] == pytest.approx(rates[3])
    assert len(carried.state) == len(list(net.parameters()))


def test_fedadam_moments_survive_a_coordinator_restart(tmp_path: Path) -> None:
    """A resumed FedAdam run started its server moments from zero and its bias correction from round 1."""
    settings, start, going_on = opened_strategy(tmp_path / "a", 3, "fedadam")
    names = sorted(start)
    rounds = [[start[k] + 0.1 * (i + 1) for k in names] for i in range(2)]

    def results(i: int) -> list:
        return [fit_result(rounds[i], p) for p in ("a", "b", "c")]

    going_on.aggregate_fit(1, results(0), [])
    uninterrupted = parameters_to_ndarrays(going_on.aggregate_fit(2, results(1), [])[0])

    settings, start, first = opened_strategy(tmp_path / "b", 3, "fedadam")
    first.aggregate_fit(1, results(0), [])
    checkpoint = Checkpoint(settings.run_folder)
    saved_round, saved = checkpoint.load()
    assert saved_round == 1 and sorted(checkpoint.strategy_state()) == sorted(
        [f"m.{k}" for k in names] + [f"v.{k}" for k in names]
    )
    resumed = RecordingStrategy(settings, saved, saved_round, RegistryRecorder(settings))
    assert all(np.array_equal(a, b) for a, b in zip(resumed.base.m_t, first.base.m_t, strict=True))
    after_restart = parameters_to_ndarrays(resumed.aggregate_fit(1, results(1), [])[0])  # Flower counts from 1
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(after_restart, uninterrupted, strict=True))
    # FedAvg keeps no state: its checkpoints carry none.
    settings, start, plain = opened_strategy(tmp_path / "c", 3, "fedavg")
    plain.aggregate_fit(1, results(0), [])
    assert Checkpoint(settings.run_folder).strategy_state() == {}


def test_convergence_stops_after_patience_rounds_without_improvement() -> None:
    rule = Convergence(patience=2)
    scores = [0.5, 0.6, 0.55, None, 0.65, 0.65, 0.64]  # None: no partner shared a score that round
    assert [rule.update(r, s) for r, s in enumerate(scores, start=1)] == [False] * 6 + [True]
    assert (rule.converged_at, rule.best_round) == (7, 5)  # equal to the best is no improvement
    assert not any(Convergence(None).update(r, 0.1) for r in range(1, 20))


def test_a_converged_run_asks_nobody_to_train_again_and_a_resume_goes_on_counting(tmp_path: Path) -> None:
    settings, start, strategy = opened_strategy(tmp_path, 3)
    strategy.convergence = Convergence(patience=2)
    names = sorted(start)

    def play(chosen: RecordingStrategy, number: int, score: float) -> None:
        chosen.aggregate_fit(number, [fit_result([start[k] for k in names], p) for p in "abc"], [])
        replies = [
            (SimpleNamespace(cid=p), EvaluateRes(Status(Code.OK, "ok"), 0.0, 10, {"partner": p, "valid_score": score}))
            for p in "abc"
        ]
        chosen.aggregate_evaluate(number, replies, [])

    play(strategy, 1, 0.5)
    play(strategy, 2, 0.4)
    assert strategy.convergence.converged_at is None
    # The coordinator restarts: the count goes on from the run's folder, not from zero.
    resumed = RecordingStrategy(settings, start, 2, RegistryRecorder(settings))
    resumed.convergence.patience = 2
    assert (resumed.convergence.best, resumed.convergence.stale) == (0.5, 1)
    play(resumed, 1, 0.45)  # Flower counts from 1 again; the run's round is 3
    assert resumed.convergence.converged_at == 3
    unreachable = SimpleNamespace()  # a converged strategy never asks the client manager for partners
    assert resumed.configure_fit(4, None, unreachable) == []  # type: ignore[arg-type]
    assert resumed.configure_evaluate(4, None, unreachable) == []  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_run_that_stops_improving_ends_before_its_cap(partner_dirs: list[Path], tmp_path: Path) -> None:
    """With a learning rate too small to move the scores, the consortium's score stops improving at once:
    the run ends after `patience` more rounds (Flower passes over the rest, SecAgg+ included) and publishes
    the last aggregated round."""
    import shutil

    from fedadmet.workflows.federation import RunSettings, simulate

    partners = [shutil.copytree(p, tmp_path / p.name) for p in partner_dirs]
    federation = FederationConfig(rounds=6, patience=1, learning_rate=1e-9, trunk=SMALL)
    settings = RunSettings(
        run_name="plateau",
        n_partners=3,
        federation=federation,
        checkpoint_dir=tmp_path / "checkpoints",
        registry_url=f"sqlite:///{tmp_path / 'registry.db'}",
    )
    run = simulate(partners, settings)
    assert run.status == "completed", run.error
    assert [r.round for r in run.rounds] == [1, 2]
    assert run.model_version.lineage["rounds"] == 2 and run.model_version.lineage["converged_at"] == 2
