"""The coordinator's real run against partners' real ClientApps in this process, every message through its
wire format (Flower's protobuf): SecAgg+ stages, training and evaluation, with each partner's serialized
replies kept for the wire tests. Flower's simulation engine runs the same apps in Ray workers, where a
test could not read what each partner sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.proto.message_pb2 import Message as ProtoMessage  # type: ignore[attr-defined]
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from fedadmet.federated.client_app import make_client_app
from fedadmet.federated.coordinator import OpenedRun, RunSettings, run_federation
from fedadmet.federated.protocol import get_task
from fedadmet.workflows.federation import RegistryRecorder, open_run


@dataclass
class Reply:
    """One reply as it left a partner: its message type (``train`` for every SecAgg+ stage) and its bytes."""

    message_type: str
    wire: bytes

    def message(self) -> Message:
        proto = ProtoMessage()
        proto.ParseFromString(self.wire)
        return message_from_proto(proto)


@dataclass
class LoopbackGrid(Grid):
    """Delivers each message to the partner node it is addressed to and hands back its serialized reply."""

    apps: dict[int, tuple[ClientApp, Context]]
    sent: dict[int, list[Reply]] = field(default_factory=dict)  # every reply of each node, in order
    waiting: dict[str, Reply] = field(default_factory=dict)  # replies not pulled yet, by the message answered

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.apps)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Each message reaches its node at once; its reply waits to be pulled."""
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = str(uuid4())
            node = message.metadata.dst_node_id
            app, context = self.apps[node]
            TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, node, 1
            delivered = message_from_proto(message_to_proto(message))  # what the node receives
            reply = Reply(message.metadata.message_type, message_to_proto(app(delivered, context)).SerializeToString())
            self.sent.setdefault(node, []).append(reply)
            self.waiting[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self.waiting.pop(i).message() for i in message_ids if i in self.waiting]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def partner_grid(partner_dirs: list[Path], **node_config: str) -> LoopbackGrid:
    """One node per partner folder, each with the production ClientApp and its own state."""
    app = make_client_app()
    nodes = {
        i + 1: (app, Context(i + 1, i + 1, {"data-dir": str(folder), **node_config}, RecordDict(), {}))
        for i, folder in enumerate(partner_dirs)
    }
    return LoopbackGrid(nodes)


def run_over(grid: LoopbackGrid, settings: RunSettings) -> RunSettings:
    """Open ``settings``' run in its registry and run it to the end over ``grid``."""
    opened = open_run(settings)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    context = Context(1, 0, {}, RecordDict(), {})
    grid.set_run(Run.create_empty(1))
    run_federation(grid, context, opened, get_task(opened.task), RegistryRecorder(opened))
    return opened


__all__ = ["LoopbackGrid", "OpenedRun", "Reply", "partner_grid", "run_over"]
