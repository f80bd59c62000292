"""What a partner sends: only trunk parameters and the agreed metrics; never SMILES, labels or heads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flwr.app import Context, Message, RecordDict
from flwr.common import FitIns, ndarrays_to_parameters
from flwr.compat.common.recorddict_compat import fitins_to_recorddict
from flwr.supercore.task_identity import TaskIdentity

from fedadmet.federated.client_app import PartnerFailedError, make_client_app, trunk_names
from fedadmet.federated.config import FederationConfig
from fedadmet.federated.prepare import PreparedDataError
from fedadmet.federated.server_app import initial_trunk
from fedadmet.federated.task import SHARED_PREFIX

FEDERATION = FederationConfig(trunk={"hidden_sizes": (32, 16)})


@pytest.fixture(autouse=True)
def task_identity() -> None:
    """Flower stamps messages with the running task's identity, which a real node sets at start-up."""
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1


def train_message(run_name: str = "r") -> Message:
    trunk = initial_trunk(FEDERATION)
    names = sorted(trunk)
    config = {
        "server-round": 1,
        "federation": FEDERATION.model_dump_json(),
        "n-partners": 3,
        "key-id": "",
        "run-name": run_name,
    }
    content = fitins_to_recorddict(FitIns(ndarrays_to_parameters([trunk[k] for k in names]), config), True)
    return Message(content=content, dst_node_id=1, message_type="train")


def context(folder: Path, **node_config: str) -> Context:
    config = {"data-dir": str(folder), **node_config}
    return Context(run_id=1, node_id=1, node_config=config, state=RecordDict(), run_config={})


def test_reply_holds_only_trunk_parameters_and_agreed_metrics(partner_dirs: list[Path]) -> None:
    app = make_client_app(require_secagg=False)
    reply = app(train_message(), context(partner_dirs[0]))
    assert not reply.has_error(), reply.error
    arrays = reply.content.array_records
    assert list(arrays) == ["fitres.parameters"]
    sent = arrays["fitres.parameters"].to_numpy_ndarrays()
    expected = initial_trunk(FEDERATION)
    assert [a.shape for a in sent] == [expected[k].shape for k in sorted(expected)]
    assert all(k.startswith(SHARED_PREFIX) for k in trunk_names_of(expected))
    metrics = reply.content.config_records["fitres.metrics"]
    assert set(metrics) == {"train_loss", "update_norm", "partner"}
    # No structure, identifier or label of the partner's compounds appears anywhere in the message.
    payload = reply.deflate() + b"".join(record.deflate() for record in reply.content.config_records.values())
    compounds = pd.read_csv(partner_dirs[0] / "compounds.csv")
    for smiles in compounds["smiles"].head(200):
        assert smiles.encode() not in payload
    for compound_id in compounds["compound_id"].astype(str).head(200):
        assert f"{compound_id}".encode() not in payload or len(compound_id) < 4


def trunk_names_of(arrays: dict[str, np.ndarray]) -> list[str]:
    return sorted(arrays)


def test_partner_refuses_unmasked_training_by_default(partner_dirs: list[Path]) -> None:
    """Raised in the ClientApp, which Flower's runtime turns into an error reply the server logs."""
    with pytest.raises(PartnerFailedError, match=r"partner partner0: SecAggRequiredError: .*SecAgg"):
        make_client_app()(train_message(), context(partner_dirs[0]))


def test_partner_with_other_key_is_refused(partner_dirs: list[Path]) -> None:
    message = train_message()
    config = message.content.config_records["fitins.config"]
    config["key-id"] = "0123456789abcdef"
    with pytest.raises(PartnerFailedError, match="another consortium key") as refused:
        make_client_app(require_secagg=False)(message, context(partner_dirs[0]))
    # The coordinator learns who failed and why, but not where the partner keeps its data.
    assert isinstance(refused.value.__cause__, PreparedDataError)
    assert str(partner_dirs[0]) not in str(refused.value) and "partner0" in str(refused.value)


def test_loading_the_client_app_does_not_import_the_training_code() -> None:
    """Flower starts a process per message; SecAgg+ stages that only mask must not pay for PyTorch."""
    script = (
        "import sys\n"
        "import fedadmet.federated.client_app\n"
        "loaded = {'torch', 'sklearn', 'fedadmet.federated.task'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_trunk_names_are_the_shared_parameters() -> None:
    from fedadmet.federated.task import build_net

    net = build_net(10, ["AMES"], FEDERATION)
    assert trunk_names(net) == sorted(k for k in net.state_dict() if k.startswith(SHARED_PREFIX))


def test_partner_shares_only_the_metrics_it_agreed_to(partner_dirs: list[Path]) -> None:
    reply = make_client_app(require_secagg=False)(
        train_message(), context(partner_dirs[0], **{"share-metrics": "train_loss"})
    )
    assert set(reply.content.config_records["fitres.metrics"]) == {"train_loss", "partner"}
