"""A run's checkpoint folder: the last aggregated parameters, who made them, and the lock held while the
run runs, so that a restarted coordinator resumes after the last round and two processes never carry one
run on together. Published artifacts are read-only copies named by their content."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from fedadmet.atomic import written_atomically
from fedadmet.exceptions import InputError

RUNNING_LOCK = "running.lock"
PROGRESS_FILE = "progress.json"


class Checkpoint:
    """The last aggregated parameters of a run and who made them, so that a resumed run goes on after that round."""

    def __init__(self, folder: Path, identity: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.identity = identity or {}

    def state(self) -> dict[str, Any] | None:
        meta = self.folder / "checkpoint.json"
        return json.loads(meta.read_text()) if meta.is_file() else None

    def last_round(self) -> int:
        """The last round aggregated into the checkpoint (0: none yet)."""
        return int((self.state() or {}).get("round", 0))

    def begin(self) -> None:
        """Record who makes this run before its first round, so that a run that fails before any checkpoint
        is still resumed only by the same partners and key."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "identity.json.tmp"
        tmp.write_text(json.dumps(self.identity))
        tmp.replace(self.folder / "identity.json")

    def recorded_identity(self) -> dict[str, Any] | None:
        """The last checkpoint's identity, else the one recorded when the run began (None for neither)."""
        begun = self.folder / "identity.json"
        try:
            return self.state() or (json.loads(begun.read_text()) if begun.is_file() else None)
        except ValueError:
            raise InputError(f"{self.folder} holds a damaged checkpoint record; it cannot be resumed") from None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Held by the process that runs the run, until it ends (or dies: the system lets go of it then)."""
        import fcntl  # POSIX: coordinators run on Linux or macOS

        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / RUNNING_LOCK).open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"{self.folder} is in use: another process is running this run") from None
            yield

    def in_use(self) -> bool:
        """Whether a live process runs this run now (a killed one holds nothing)."""
        try:
            with self.running():
                return False
        except InputError:
            return True

    def load(self) -> tuple[int, dict[str, np.ndarray]] | None:
        state = self.state()
        if state is None:
            return None
        return int(state["round"]), load_file(str(self.folder / state["file"]))

    def save(
        self, round_number: int, arrays: dict[str, np.ndarray], strategy_state: dict[str, np.ndarray] | None = None
    ) -> Path:
        """The round's parameters and, where the strategy keeps any (FedAdam's moments), its state, so that a
        resumed run goes on with the same server optimiser rather than a fresh one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"trunk-round-{round_number:04d}.safetensors"
        save_file(arrays, str(self.folder / name))
        record: dict[str, Any] = {**self.identity, "round": round_number, "file": name}
        if strategy_state:
            record["strategy_file"] = f"strategy-round-{round_number:04d}.safetensors"
            save_file(strategy_state, str(self.folder / record["strategy_file"]))
        tmp = self.folder / "checkpoint.json.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(self.folder / "checkpoint.json")  # atomic: a crash never leaves half a checkpoint
        return self.folder / name

    def save_progress(self, progress: dict[str, Any]) -> None:
        """What the coordinator tracks between evaluations (how long the score has not improved), so that a
        resumed run goes on counting."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{PROGRESS_FILE}.tmp"
        tmp.write_text(json.dumps(progress))
        tmp.replace(self.folder / PROGRESS_FILE)

    def progress(self) -> dict[str, Any]:
        """The last :meth:`save_progress` (empty: none)."""
        path = self.folder / PROGRESS_FILE
        try:
            return dict(json.loads(path.read_text())) if path.is_file() else {}
        except ValueError:
            raise InputError(f"{path} is damaged; it cannot be resumed") from None

    def strategy_state(self) -> dict[str, np.ndarray]:
        """The strategy's state saved with the last round (empty: none was kept)."""
        state = self.state()
        if state is None or "strategy_file" not in state:
            return {}
        return load_file(str(self.folder / state["strategy_file"]))

    def latest_bytes(self) -> tuple[int, bytes] | None:
        """The last round and the safetensors bytes of its parameters (None before any round)."""
        state = self.state()
        return None if state is None else (int(state["round"]), (self.folder / state["file"]).read_bytes())


def publish_artifact(data: bytes, checkpoint_dir: Path) -> tuple[Path, str]:
    """A read-only copy of parameters (safetensors ``data``) named by its SHA-256, in ``checkpoint_dir``'s
    ``published`` folder, so that a published version's artifact never changes even if a run's checkpoint
    folder is written again; returns its path and digest."""
    digest = hashlib.sha256(data).hexdigest()
    target = Path(checkpoint_dir) / "published" / f"trunk-{digest}.safetensors"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with written_atomically(target) as partial:
            partial.write_bytes(data)
            partial.chmod(0o444)
    return target, digest
