"""What leaves a partner, byte for byte: a real run under SecAgg+ (every stage of the training reply, and
the evaluation reply) over the partners' real ClientApps, each reply as serialized for the wire, checked
against the partner's own private values: every SMILES and compound id of its compounds.csv, every
label it prepared (as prepared and as the model learns them), its private head weights from its node's
state, and the shape of any per-compound value. Each kind of leak is injected into each reply to show
the check catches it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flwr.app import Array, ArrayRecord, Message
from flwr.common import ndarray_to_bytes
from flwr.common.serde import config_record_to_proto, message_to_proto, metric_record_to_proto

from fedadmet.federated.client_app import PRIVATE_RECORD
from fedadmet.federated.task import PartnerData
from fedadmet.federated.tasks.molecular import MolecularTask
from tests.fl.loopback import LoopbackGrid, Reply, partner_grid, run_over
from tests.fl.test_secure_aggregation import run_settings

SECAGG = "secaggplus_configs"
# Every SecAgg+ stage's reply: public keys, encrypted shares, the masked vector, the shares for unmasking.
SECAGG_KEYS = [{"pk1", "pk2"}, {"dsts", "ctxts"}, {"masked_params"}, {"nids", "shares"}]
SHARED_METRICS = {"valid_score", "train_loss", "bytes_sent", "partner"}
SCALAR_RECORDS = {
    "fitres.status": {"code", "message"},
    "evaluateres.status": {"code", "message"},
    "fitres.num_examples": {"num_examples"},
    "evaluateres.num_examples": {"num_examples"},
    "evaluateres.loss": {"loss"},
}
LONG_ENOUGH = 8  # a string this long does not turn up by chance in random (masked) bytes


@dataclass
class Private:
    """One partner's private values, read from its own files and its node's state (never from the trunk)."""

    name: str
    texts: set[str]  # SMILES (as given and standardised) and compound ids
    labels: set[bytes]  # each non-integer label as float64 and float32 bytes, prepared and scaled
    heads: dict[str, np.ndarray]
    n_compounds: int

    @classmethod
    def of(cls, folder: Path, heads: dict[str, np.ndarray]) -> Private:
        compounds = pd.read_csv(folder / "compounds.csv", dtype=str)
        texts = {*compounds["smiles"], *compounds["form"], *compounds["compound_id"]}
        prepared = np.load(folder / "labels.npz")["values"]
        values = np.concatenate([prepared.ravel(), PartnerData.load(folder).targets.ravel()])
        values = values[np.isfinite(values) & (values != np.round(values))]
        labels = {np.float64(v).tobytes() for v in values} | {np.float32(v).tobytes() for v in values}
        return cls(PartnerData.load(folder).name, texts, labels, heads, len(compounds))

    def head_chunks(self) -> list[bytes]:
        """Runs of 8 consecutive head weights, in single and double precision: a copy of any part shows."""
        chunks = []
        for values in self.heads.values():
            flat = values.ravel()
            for start in range(0, max(len(flat) - 7, 1), 8):
                piece = flat[start : start + 8]
                chunks += [piece.astype(np.float32).tobytes(), piece.astype(np.float64).tobytes()]
        return chunks


def leaks(reply: Message, private: Private, trunk_sizes: list[int]) -> set[str]:
    """The kinds of leak in one reply: ``schema`` (anything but the agreed records, keys and sizes),
    ``smiles``, ``label``, ``head``, ``per-compound`` (a value holding more than one number)."""
    found: set[str] = set()
    content = reply.content
    wire = message_to_proto(reply).SerializeToString()
    strings: list[str] = []
    for name, record in content.config_records.items():
        if name == SECAGG:
            found |= secagg_problems(dict(record), trunk_sizes)
            continue
        allowed = SHARED_METRICS if name.endswith(".metrics") else SCALAR_RECORDS.get(name)
        if allowed is None or not set(record) <= allowed:
            found.add("schema")
        for key, value in record.items():
            strings.append(key)
            if isinstance(value, list | bytes):
                found.add("per-compound")
            elif isinstance(value, str):
                strings.append(value)
        if name.endswith(".metrics") and record.get("partner") != private.name:
            found.add("schema")
    for name, record in content.metric_records.items():
        if set(record) != SCALAR_RECORDS.get(name, set()):
            found.add("schema")
        if any(isinstance(value, list) for value in record.values()):
            found.add("per-compound")
    for name, record in content.array_records.items():
        if name != "fitres.parameters" or len(record):  # SecAgg+ empties the plain parameters
            found.add("schema")
        for array in record.values():
            found |= {"per-compound"} if array.numpy().size >= private.n_compounds else set()
    # Content, wherever it hides: strings among the strings; long ones, labels and heads anywhere in the bytes.
    if any(text in s if len(text) >= 5 else text == s for s in strings for text in private.texts):
        found.add("smiles")
    if any(text.encode() in wire for text in private.texts if len(text) >= LONG_ENOUGH):
        found.add("smiles")
    # What is not masked or encrypted: searched for single-precision values too.
    clear_bytes = b"".join(
        config_record_to_proto(record).SerializeToString()
        for name, record in content.config_records.items()
        if name != SECAGG
    )
    clear_bytes += b"".join(metric_record_to_proto(r).SerializeToString() for r in content.metric_records.values())
    clear_bytes += b"".join(a.data for record in content.array_records.values() for a in record.values())
    if any(label in clear_bytes or (len(label) == 8 and label in wire) for label in private.labels):
        found.add("label")
    if any(chunk in clear_bytes or (len(chunk) == 64 and chunk in wire) for chunk in private.head_chunks()):
        found.add("head")
    return found


def secagg_problems(record: dict[str, object], trunk_sizes: list[int]) -> set[str]:
    """A SecAgg+ stage's reply holds its keys, with the sizes the protocol gives them."""
    if set(record) not in SECAGG_KEYS:
        return {"schema"}
    if "masked_params" in record:  # one int64 vector per trunk array, plus the weight factor
        expected = [len(ndarray_to_bytes(np.zeros(size, dtype=np.int64))) for size in [1, *trunk_sizes]]
        sizes = [len(part) for part in record["masked_params"]]  # type: ignore[attr-defined]
        return set() if sizes == expected else {"schema"}
    blobs = [v for value in record.values() for v in (value if isinstance(value, list) else [value])]
    return set() if all(isinstance(v, int) or len(v) <= 1024 for v in blobs) else {"schema"}  # type: ignore[arg-type]


@dataclass
class Wire:
    grid: LoopbackGrid
    private: dict[int, Private]
    trunk_sizes: list[int]


@pytest.fixture(scope="module")
def wire(partner_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Wire:
    root = tmp_path_factory.mktemp("wire")
    folders = [shutil.copytree(p, root / p.name) for p in partner_dirs]
    grid = partner_grid(folders)
    settings = run_over(grid, run_settings(root, "wire"))
    assert settings.federation.secagg
    private = {}
    for node, (_, context) in grid.apps.items():
        heads = {k: v.numpy() for k, v in context.state.array_records[PRIVATE_RECORD].items()}
        private[node] = Private.of(Path(str(context.node_config["data-dir"])), heads)
    trunk = MolecularTask().initial_parameters(settings.federation.model_dump(mode="json"))
    return Wire(grid, private, [trunk[k].size for k in sorted(trunk)])


def replies(wire: Wire, node: int, kind: str) -> list[Reply]:
    return [r for r in wire.grid.sent[node] if r.message_type == kind]


def test_every_reply_holds_only_what_the_partner_agreed_to_send(wire: Wire) -> None:
    for node, private in wire.private.items():
        sent = wire.grid.sent[node]
        assert [r.message_type for r in sent] == ["train"] * 4 + ["evaluate"]  # four SecAgg+ stages, one evaluation
        found = [leaks(r.message(), private, wire.trunk_sizes) for r in sent]
        assert found == [set()] * len(sent), private.name
        assert private.heads and len(private.texts) > 2 * private.n_compounds - 10 and private.labels


def inject(message: Message, kind: str, private: Private) -> None:
    """Add one kind of private value to a reply, as a client that leaks would."""
    prefix = "fitres" if "fitres.metrics" in message.content.config_records else "evaluateres"
    metrics = message.content.config_records[f"{prefix}.metrics"]
    if kind == "smiles":  # a SMILES of the partner (the shortest one: the hardest to see)
        metrics["partner"] = f"{private.name} {min(private.texts, key=len)}"
    elif kind == "label":  # one compound's label in place of an agreed score
        label = np.frombuffer(sorted(b for b in private.labels if len(b) == 8)[0], dtype=np.float64)[0]
        metrics["valid_score" if prefix == "evaluateres" else "train_loss"] = float(label)
    elif kind == "head":
        message.content.array_records["heads"] = ArrayRecord({k: Array(v) for k, v in private.heads.items()})
    else:  # a value per compound, under an agreed name
        metrics["valid_score" if prefix == "evaluateres" else "train_loss"] = [0.5] * private.n_compounds


@pytest.mark.parametrize("kind", ["smiles", "label", "head", "per-compound"])
@pytest.mark.parametrize("message_type", ["train", "evaluate"])
def test_the_wire_check_catches_each_leak(wire: Wire, kind: str, message_type: str) -> None:
    node = 2
    private = wire.private[node]
    chosen = [r.message() for r in replies(wire, node, message_type)]
    message = next(m for m in chosen if any(k.endswith(".metrics") for k in m.content.config_records))
    inject(message, kind, private)
    assert kind in leaks(message, private, wire.trunk_sizes)
