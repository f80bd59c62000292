"""What a partner sends: only trunk parameters and the agreed metrics; never SMILES, labels or heads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Context, Message, RecordDict
from flwr.common import EvaluateIns, FitIns, ndarrays_to_parameters
from flwr.compat.common.recorddict_compat import evaluateins_to_recorddict, fitins_to_recorddict
from flwr.supercore.task_identity import TaskIdentity

from fedadmet.federated.client_app import UntrustedParametersError, make_client_app
from fedadmet.federated.config import FederationConfig, PrivacyConfig
from fedadmet.federated.failures import PARTNER_FAILURE_CODE, PartnerFailure
from fedadmet.federated.prepare import PreparedDataError
from fedadmet.federated.privacy import secure_rng
from fedadmet.federated.protocol import replaces_kept
from fedadmet.federated.task import SHARED_PREFIX
from fedadmet.federated.tasks.molecular import MolecularTask, kept_scores, partner_model_folder, trunk_names

FEDERATION = FederationConfig(trunk={"hidden_sizes": (32, 16)})


@pytest.fixture(autouse=True)
def task_identity() -> None:
    """Flower stamps messages with the running task's identity, which a real node sets at start-up."""
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def initial_trunk(federation: FederationConfig) -> dict[str, np.ndarray]:
    return MolecularTask().initial_parameters(federation.model_dump(mode="json"))


def failure_of(reply: Message) -> PartnerFailure:
    """The typed record a failed partner sends back instead of a result."""
    assert reply.has_error() and reply.error.code == PARTNER_FAILURE_CODE
    return PartnerFailure.from_dict(json.loads(reply.error.reason))


def train_message(
    run_name: str = "r", federation: FederationConfig = FEDERATION, trunk: dict[str, np.ndarray] | None = None
) -> Message:
    trunk = initial_trunk(federation) if trunk is None else trunk
    names = sorted(trunk)
    config = {
        "parameter-names": json.dumps(names),
        "server-round": 1,
        "federation": federation.model_dump_json(),
        "n-partners": 3,
        "key-id": "",
        "run-name": run_name,
    }
    content = fitins_to_recorddict(FitIns(ndarrays_to_parameters([trunk[k] for k in names]), config), True)
    return Message(content=content, dst_node_id=1, message_type="train")


def context(folder: Path, **node_config: str) -> Context:
    config = {"data-dir": str(folder), **node_config}
    return Context(run_id=1, node_id=1, node_config=config, state=RecordDict(), run_config={})


def test_reply_holds_only_trunk_parameters_and_agreed_metrics(partner_dirs: list[Path], tmp_path: Path) -> None:
    app = make_client_app(require_secagg=False)
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")  # training keeps the node's state there
    reply = app(train_message(), context(folder))
    assert not reply.has_error(), reply.error
    arrays = reply.content.array_records
    assert list(arrays) == ["fitres.parameters"]
    sent = arrays["fitres.parameters"].to_numpy_ndarrays()
    expected = initial_trunk(FEDERATION)
    assert [a.shape for a in sent] == [expected[k].shape for k in sorted(expected)]
    assert all(k.startswith(SHARED_PREFIX) for k in trunk_names_of(expected))
    metrics = reply.content.config_records["fitres.metrics"]
    assert set(metrics) == {"train_loss", "partner"}
    # Nothing else of the partner's compounds: tests/fl/test_wire.py checks every byte under SecAgg+.


def trunk_names_of(arrays: dict[str, np.ndarray]) -> list[str]:
    return sorted(arrays)


def test_partner_refuses_unmasked_training_by_default(partner_dirs: list[Path]) -> None:
    """Raised in the ClientApp, which answers with a typed failure record the server records."""
    failure = failure_of(make_client_app()(train_message(), context(partner_dirs[0])))
    assert (failure.partner, failure.stage) == ("partner0", "train")
    assert re.fullmatch(r"SecAggRequiredError: .*SecAgg.*", failure.reason)


def test_partner_with_other_key_is_refused(partner_dirs: list[Path]) -> None:
    message = train_message()
    config = message.content.config_records["fitins.config"]
    config["key-id"] = "0123456789abcdef"
    refused = failure_of(make_client_app(require_secagg=False)(message, context(partner_dirs[0])))
    assert "another consortium key" in refused.reason
    # The coordinator learns who failed and why, but not where the partner keeps its data.
    assert refused.reason.startswith(f"{PreparedDataError.__name__}: ")
    assert str(partner_dirs[0]) not in refused.reason and refused.partner == "partner0"


def test_loading_the_client_app_does_not_import_the_training_code() -> None:
    """Flower starts a process per message; SecAgg+ stages that only mask must not pay for PyTorch."""
    script = (
        "import sys\n"
        "import fedadmet.federated.client_app, fedadmet.federated.tasks.molecular\n"
        "loaded = {'torch', 'sklearn', 'fedadmet.federated.task'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_trunk_names_are_the_shared_parameters() -> None:
    from fedadmet.federated.task import build_net

    net = build_net(10, ["AMES"], FEDERATION)
    assert trunk_names(net) == sorted(k for k in net.state_dict() if k.startswith(SHARED_PREFIX))


def test_partner_shares_only_the_metrics_it_agreed_to(partner_dirs: list[Path], tmp_path: Path) -> None:
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    reply = make_client_app(require_secagg=False)(train_message(), context(folder, **{"share-metrics": "train_loss"}))
    assert set(reply.content.config_records["fitres.metrics"]) == {"train_loss", "partner"}


def evaluate_message(
    trunk: dict[str, np.ndarray], trunk_round: int, run_name: str = "r", federation: FederationConfig = FEDERATION
) -> Message:
    config = {
        "parameter-names": json.dumps(sorted(trunk)),
        "server-round": trunk_round + 1,
        "federation": federation.model_dump_json(),
        "n-partners": 3,
        "key-id": "",
        "run-name": run_name,
        "run-id": 7,
        "trunk-round": trunk_round,
    }
    parameters = ndarrays_to_parameters([trunk[k] for k in sorted(trunk)])
    content = evaluateins_to_recorddict(EvaluateIns(parameters, config), True)
    return Message(content=content, dst_node_id=1, message_type="evaluate")


def test_a_trunk_the_federation_aggregated_replaces_a_kept_initial_one_whatever_the_scores(
    partner_dirs: list[Path], tmp_path: Path
) -> None:
    """A round that was not aggregated still trains the heads: that model may score better than later,
    federated ones, but it is not a federated model and must not stay the partner's kept model."""
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    app, state = make_client_app(require_secagg=False), context(folder)
    initial = initial_trunk(FEDERATION)
    assert not app(evaluate_message(initial, trunk_round=0), state).has_error()
    kept = partner_model_folder(folder, "r", 7)
    assert json.loads((kept / "provenance.json").read_text())["trunk_round"] == 0
    useless = {name: np.zeros_like(value) for name, value in initial.items()}  # scores no better, likely worse
    assert not app(evaluate_message(useless, trunk_round=1), state).has_error()
    assert json.loads((kept / "provenance.json").read_text())["trunk_round"] == 1
    # A node that restarts reads what it kept: the initial trunk no longer replaces it.
    assert kept_scores(kept)["trunk_round"] == 1
    assert not replaces_kept(kept_scores(kept), valid_score=1.0, trunk_round=0)


@pytest.mark.parametrize(
    ("kept", "score", "trunk_round", "replaces"),
    [
        ({"valid_score": -np.inf, "trunk_round": 0}, 0.1, 0, True),  # nothing kept yet: even the initial trunk
        ({"valid_score": 0.9, "trunk_round": 0}, 0.2, 3, True),  # aggregated beats initial, whatever the scores
        ({"valid_score": 0.2, "trunk_round": 3}, 0.9, 0, False),  # and is never replaced by it
        ({"valid_score": 0.5, "trunk_round": 2}, 0.6, 3, True),  # both aggregated: the better score
        ({"valid_score": 0.5, "trunk_round": 2}, 0.4, 3, False),
        ({"valid_score": 0.5, "trunk_round": 2}, float("nan"), 3, False),  # a NaN score never replaces
        ({"valid_score": 0.5}, 0.6, -1, True),  # rounds not recorded (older files, older coordinators): by score
    ],
)
def test_which_evaluated_model_replaces_the_kept_one(
    kept: dict[str, float], score: float, trunk_round: int, replaces: bool
) -> None:
    assert replaces_kept(kept, score, trunk_round) is replaces


def test_kept_scores_without_a_kept_model_are_replaced_by_any(tmp_path: Path) -> None:
    assert replaces_kept(kept_scores(tmp_path / "none"), valid_score=-1e9, trunk_round=0)
    (tmp_path / "scores.json").write_text(json.dumps({"valid_score": 0.5}))
    assert kept_scores(tmp_path) == {"valid_score": 0.5, "trunk_round": -1}  # kept before rounds were recorded


@pytest.mark.parametrize("run_name", ["../../outside", "team/a", "..", "c:\\temp"])
def test_a_run_name_that_is_a_path_writes_nothing_outside_the_partner_folder(
    partner_dirs: list[Path], tmp_path: Path, run_name: str
) -> None:
    """The coordinator names the run, and the partner keeps its model in a folder of that name."""
    folder = shutil.copytree(partner_dirs[0], tmp_path / "sites" / "partner0")
    before = sorted(p for p in tmp_path.rglob("*"))
    reply = make_client_app(require_secagg=False)(
        evaluate_message(initial_trunk(FEDERATION), trunk_round=1, run_name=run_name), context(folder)
    )
    assert re.search(r"run name .* is or holds a path", failure_of(reply).reason)
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_the_kept_models_settings_follow_a_resumed_runs_round_count(partner_dirs: list[Path], tmp_path: Path) -> None:
    """`federate gain` gives the local-only model the run's epoch budget: after a resume with fewer rounds,
    that is the new count, also when no later model replaces the kept one."""
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    app, state = make_client_app(require_secagg=False), context(folder)
    trunk = initial_trunk(FEDERATION)
    assert not app(evaluate_message(trunk, trunk_round=1), state).has_error()
    fewer = FEDERATION.model_copy(update={"rounds": FEDERATION.rounds - 1})
    assert not app(evaluate_message(trunk, trunk_round=2, federation=fewer), state).has_error()  # the same score
    kept = partner_model_folder(folder, "r", 7)
    assert json.loads((kept / "provenance.json").read_text())["trunk_round"] == 1  # not replaced
    assert json.loads((kept / "federation.json").read_text())["rounds"] == FEDERATION.rounds - 1


DP = FEDERATION.model_copy(update={"privacy": PrivacyConfig(enabled=True, noise_multiplier=0.5)})


def test_under_dp_a_partner_sends_no_metric_and_no_fold_size(partner_dirs: list[Path], tmp_path: Path) -> None:
    """Per-partner losses, scores or fold sizes in the clear would bypass the noise and its ε."""
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    app, state = make_client_app(require_secagg=False), context(folder, **{"share-metrics": "train_loss,valid_score"})
    fit = app(train_message(federation=DP), state)
    assert not fit.has_error(), fit.error
    assert dict(fit.content.config_records["fitres.metrics"]) == {"partner": "partner0"}
    assert fit.content.metric_records["fitres.num_examples"]["num_examples"] == 1
    answer = app(evaluate_message(initial_trunk(DP), trunk_round=1, federation=DP), state)
    assert not answer.has_error(), answer.error
    assert set(answer.content.config_records["evaluateres.metrics"]) == {"partner", "bytes_sent"}
    assert answer.content.metric_records["evaluateres.num_examples"]["num_examples"] == 1
    assert answer.content.metric_records["evaluateres.loss"]["loss"] == 0.0


def test_evaluation_sends_the_validation_score_and_never_a_test_score(partner_dirs: list[Path], tmp_path: Path) -> None:
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    app = make_client_app(require_secagg=False)
    for state in (context(folder), context(folder, **{"share-metrics": "valid_score,test_score"})):
        answer = app(evaluate_message(initial_trunk(FEDERATION), trunk_round=1), state)
        assert set(answer.content.config_records["evaluateres.metrics"]) == {"valid_score", "bytes_sent", "partner"}


def test_dp_noise_is_never_replayed(partner_dirs: list[Path], tmp_path: Path) -> None:
    """Two identical trainings (seeded, global generators reset alike) send different noised updates: the
    noise comes from the OS's cryptographic source. Without noise they are identical."""
    import torch

    quiet = DP.model_copy(update={"privacy": PrivacyConfig(enabled=True, noise_multiplier=0.0)})
    sent = {}
    for name, federation in (("noised", DP), ("clipped", quiet)):
        replies = []
        for i in range(2):  # each on its own copy: a node resumes from the heads and optimiser it kept
            folder = shutil.copytree(partner_dirs[0], tmp_path / f"{name}-{i}" / "partner0")
            np.random.seed(0)
            torch.manual_seed(0)
            reply = make_client_app(require_secagg=False)(train_message(federation=federation), context(folder))
            replies.append(reply.content.array_records["fitres.parameters"].to_numpy_ndarrays())
        sent[name] = max(float(np.abs(a - b).max()) for a, b in zip(*replies, strict=True))
    assert sent["clipped"] == 0.0 and sent["noised"] > 1e-3


def test_secure_rng_is_seeded_from_the_os_not_from_global_state() -> None:
    np.random.seed(0)
    first = secure_rng().normal(size=8)
    np.random.seed(0)
    assert not np.array_equal(first, secure_rng().normal(size=8))
    script = "from fedadmet.federated.privacy import secure_rng; print(secure_rng().integers(2**62))"
    draws = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout}
    draws.add(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    assert len(draws) == 2  # two fresh processes started alike draw differently


def largest(trunk: dict[str, np.ndarray]) -> str:
    return max(trunk, key=lambda name: trunk[name].size)


def scaled(trunk: dict[str, np.ndarray], how: str) -> dict[str, np.ndarray]:
    """A trunk no aggregation of the consortium could produce (its largest array changed)."""
    name = largest(trunk)
    changed = dict(trunk)
    if how == "value":  # one value beyond what SecAgg+ carries
        changed[name] = trunk[name].copy()
        changed[name].flat[0] = 1e3
    elif how == "norm":  # every value within ±8, the norm far beyond the bound
        changed[name] = np.full_like(trunk[name], 7.5)
    else:
        changed[name] = trunk[name].copy()
        changed[name].flat[0] = np.nan
    return changed


@pytest.mark.parametrize("how", ["value", "norm", "nan"])
@pytest.mark.parametrize("stage", ["train", "evaluate"])
def test_a_trunk_out_of_bounds_is_refused_before_use(
    partner_dirs: list[Path], tmp_path: Path, how: str, stage: str
) -> None:
    """A coordinator probing a partner's labels with a crafted model gets a typed refusal, and nothing is kept."""
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    trunk = scaled(initial_trunk(FEDERATION), how)
    message = train_message(trunk=trunk) if stage == "train" else evaluate_message(trunk, trunk_round=1)
    failure = failure_of(make_client_app(require_secagg=False)(message, context(folder)))
    assert (failure.partner, failure.stage) == ("partner0", stage)
    assert failure.reason.startswith(f"{UntrustedParametersError.__name__}: {largest(trunk)} ")
    assert not (folder / "federated_model").exists()


def test_a_partner_states_its_own_bounds(partner_dirs: list[Path], tmp_path: Path) -> None:
    folder = shutil.copytree(partner_dirs[0], tmp_path / "partner0")
    trunk = initial_trunk(FEDERATION)
    app = make_client_app(require_secagg=False)
    assert not app(train_message(trunk=trunk), context(folder)).has_error()
    tight = context(folder, **{"max-parameter-norm": "0.5"})
    assert "beyond 0.5" in failure_of(app(train_message(trunk=trunk), tight)).reason
