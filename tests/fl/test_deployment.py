"""Flower's deployment engine for real: a SuperLink and three SuperNodes as separate processes on
127.0.0.1, TLS with certificates made here, SuperNode authentication with registered keys, the run
submitted with `flwr run`, and the result checked in the registry. A second test kills a SuperNode
mid-run and the federation still completes with the remaining partners."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedadmet.federated.config import FederationConfig
from fedadmet.federated.deploy import make_certificates, make_node_key, write_app
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """Processes of one deployment, stopped at the end whatever happens."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def env(self, home: str) -> dict[str, str]:
        folder = self.root / home
        folder.mkdir(parents=True, exist_ok=True)
        return os.environ | {
            "FLWR_HOME": str(folder),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FEDADMET_PROGRESS": "false",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # Flower starts flower-superexec by name
        }

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            cwd=self.root / name if (self.root / name).is_dir() else self.root,
            env=self.env(name),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def flwr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "flwr"), *args], env=self.env("cli"), capture_output=True, text=True, timeout=timeout
        )

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.root.glob("*.log"))


@pytest.fixture
def deployment(tmp_path: Path, partner_dirs: list[Path]) -> Iterator[tuple[Site, list[Path], str]]:
    site = Site(tmp_path)
    certs = make_certificates(tmp_path / "certs")
    port = free_port()
    address = f"127.0.0.1:{port}"
    (tmp_path / "superlink").mkdir()
    site.start(
        "superlink",
        [
            "flower-superlink",
            "--ssl-ca-certfile", str(certs / "ca.crt"),
            "--ssl-certfile", str(certs / "server.pem"),
            "--ssl-keyfile", str(certs / "server.key"),
            "--enable-supernode-auth",
            "--disable-runtime-dependency-installation",
            "--database", str(tmp_path / "superlink" / "state.db"),
            "--port", str(port),
        ],
    )  # fmt: skip
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "config.toml").write_text(  # the connection `flwr run` and `flwr ls` use
        f'[superlink]\ndefault = "consortium"\n\n[superlink.consortium]\naddress = "{address}"\n'
        f'root-certificates = "{(certs / "ca.crt").resolve()}"\n'
    )
    deadline = time.time() + 60
    while site.flwr("supernode", "list", "consortium").returncode != 0:
        assert time.time() < deadline, site.logs()
        time.sleep(1)
    partners = [shutil.copytree(p, tmp_path / "data" / p.name) for p in partner_dirs]
    for i, folder in enumerate(partners):
        private, public = make_node_key(tmp_path / "keys", f"node{i}")
        registered = site.flwr("supernode", "register", str(public), "consortium")
        assert registered.returncode == 0, registered.stdout + registered.stderr
        site.start(
            f"supernode{i}",
            [
                "flower-supernode",
                "--superlink", address,
                "--root-certificates", str(certs / "ca.crt"),
                "--auth-supernode-private-key", str(private),
                "--node-config", f"data-dir='{folder}'",
                "--port", str(free_port()),
            ],
        )  # fmt: skip
    try:
        yield site, partners, address
    finally:
        site.stop_all()


def submit(site: Site, tmp_path: Path, rounds: int) -> tuple[str, int]:
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    federation = FederationConfig(rounds=rounds, min_partners=2, trunk={"hidden_sizes": (32, 16)})
    app = write_app(tmp_path / "app", "deployed", 3, tmp_path / "checkpoints", federation, registry_url=registry)
    submitted = site.flwr("run", str(app), "consortium", "--format", "json", timeout=300)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr + site.logs()
    return registry, int(json.loads(submitted.stdout)["run-id"])


def wait_for_run(site: Site, run_id: int, timeout: float) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        listed = site.flwr("ls", "consortium", "--run-id", str(run_id), "--format", "json")
        if listed.returncode == 0:
            status = json.loads(listed.stdout)["runs"][0]["status"]
            if status.startswith("finished"):
                return status
        time.sleep(3)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s\n{site.logs()}")


def test_tls_authenticated_deployment_completes(deployment: tuple[Site, list[Path], str], tmp_path: Path) -> None:
    site, _, _ = deployment
    registry, run_id = submit(site, tmp_path, rounds=1)
    status = wait_for_run(site, run_id, timeout=600)
    assert status == "finished:completed", site.logs()
    with open_registry(registry).begin() as session:
        runs = repository.list_runs(session)
        versions = repository.list_versions(session)
    assert runs[0].status == "completed" and runs[0].secagg
    assert [r.partners for r in runs[0].rounds] == [["partner0", "partner1", "partner2"]]
    assert versions[0].lineage["rounds"] == 1 and Path(versions[0].artifact_uri).is_file()


def test_unregistered_supernode_is_refused(deployment: tuple[Site, list[Path], str], tmp_path: Path) -> None:
    site, partners, address = deployment
    private, _ = make_node_key(tmp_path / "keys", "intruder")
    intruder = site.start(
        "intruder",
        [
            "flower-supernode",
            "--superlink", address,
            "--root-certificates", str(tmp_path / "certs" / "ca.crt"),
            "--auth-supernode-private-key", str(private),
            "--node-config", f"data-dir='{partners[0]}'",
            "--port", str(free_port()),
            "--max-retries", "0",
        ],
    )  # fmt: skip
    assert intruder.wait(timeout=120) != 0


def test_run_completes_when_a_supernode_dies(deployment: tuple[Site, list[Path], str], tmp_path: Path) -> None:
    site, _, _ = deployment
    registry, run_id = submit(site, tmp_path, rounds=2)
    deadline = time.time() + 400
    while not list((tmp_path / "checkpoints").glob("run-*/checkpoint.json")):  # round 1 aggregated
        assert time.time() < deadline, site.logs()
        time.sleep(2)
    site.stop("supernode2")
    status = wait_for_run(site, run_id, timeout=900)
    assert status == "finished:completed", site.logs()
    with open_registry(registry).begin() as session:
        run = repository.list_runs(session)[0]
    assert run.status == "completed"
    assert [r.round for r in run.rounds] == [1, 2]
    assert run.rounds[0].partners == ["partner0", "partner1", "partner2"]
    assert "partner2" not in run.rounds[-1].partners
