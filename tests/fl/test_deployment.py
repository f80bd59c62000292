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
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
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

    def flwr(self, *args: str, timeout: float = 120, home: str = "cli") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "flwr"), *args], env=self.env(home), capture_output=True, text=True, timeout=timeout
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


def connection(site: Site, home: str, address: str) -> None:
    """The `flwr` connection named ``consortium`` in ``home``'s config.toml, as the README writes it."""
    folder = site.root / home
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(
        f'[superlink]\ndefault = "consortium"\n\n[superlink.consortium]\naddress = "{address}"\n'
        f'root-certificates = "{(site.root / "certs" / "ca.crt").resolve()}"\n'
    )


@pytest.fixture
def deployment(tmp_path: Path, partner_dirs: list[Path]) -> Iterator[tuple[Site, list[Path], str]]:
    """The README's deployment on one host: the SuperLink's API on 127.0.0.1 only (the operator's), the
    Fleet-only gateway on the address partners reach, three SuperNodes each with its own port."""
    site = Site(tmp_path)
    certs = make_certificates(tmp_path / "certs")
    private_port, public_port = free_port(), free_port()
    public = f"127.0.0.1:{public_port}"
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
            "--host", "127.0.0.1",
            "--port", str(private_port),
        ],
    )  # fmt: skip
    site.start(
        "gateway",
        [
            "fedadmet", "federate", "gateway", "--certs", str(certs),
            "--superlink", f"127.0.0.1:{private_port}", "--host", "127.0.0.1", "--port", str(public_port),
        ],
    )  # fmt: skip
    connection(site, "cli", f"127.0.0.1:{private_port}")  # the operator, on the SuperLink's machine
    deadline = time.time() + 60
    while site.flwr("supernode", "list", "consortium").returncode != 0:
        assert time.time() < deadline, site.logs()
        time.sleep(1)
    partners = [shutil.copytree(p, tmp_path / "data" / p.name) for p in partner_dirs]
    for i, folder in enumerate(partners):
        private, public_key = make_node_key(tmp_path / "keys", f"node{i}")
        registered = site.flwr("supernode", "register", str(public_key), "consortium")
        assert registered.returncode == 0, registered.stdout + registered.stderr
        site.start(
            f"supernode{i}",
            [
                "flower-supernode",
                "--superlink", public,
                "--root-certificates", str(certs / "ca.crt"),
                "--auth-supernode-private-key", str(private),
                "--node-config", f"data-dir='{folder}'",
                "--port", str(free_port()),  # each SuperNode's own API: distinct ports on one host
            ],
        )  # fmt: skip
    try:
        yield site, partners, public
    finally:
        site.stop_all()


def submit(site: Site, tmp_path: Path, rounds: int, **options: object) -> tuple[str, int]:
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    federation = FederationConfig(rounds=rounds, min_partners=2, trunk={"hidden_sizes": (32, 16)}, **options)
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


def test_an_outsider_with_the_ca_certificate_can_neither_register_a_node_nor_submit_an_app(
    deployment: tuple[Site, list[Path], str], tmp_path: Path
) -> None:
    """The user test's intrusion: from the address partners reach, with the CA certificate, an outsider
    registers a SuperNode key of their own and submits an app. Both are refused at the gateway (403), and
    the SuperLink knows neither."""
    site, _, public = deployment
    connection(site, "outsider", public)
    _, outsider_key = make_node_key(tmp_path / "outsider-keys", "outsider")
    registered = site.flwr("supernode", "register", str(outsider_key), "consortium", home="outsider")
    assert registered.returncode != 0, registered.stdout
    app = write_app(
        tmp_path / "outsider-app", "outsider", 3, tmp_path / "outsider-checkpoints", FederationConfig(rounds=1)
    )
    submitted = site.flwr("run", str(app), "consortium", "--format", "json", home="outsider", timeout=300)
    assert submitted.returncode != 0 or json.loads(submitted.stdout)["success"] is False, submitted.stdout
    # The gateway itself says no to every Control and Runtime API path, and passes the Fleet API on.
    ca = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.crt"))
    for path in ("/v1/control/start-run", "/v1/control/list-nodes", "/v1/runtime/get-run", "/v1/fleet/../control/x"):
        assert httpx.post(f"https://{public}{path}", content=b"", verify=ca).status_code == 403, path
    assert httpx.post(f"https://{public}/v1/fleet/get-run", content=b"", verify=ca).status_code != 403
    listed = site.flwr("supernode", "list", "consortium", "--format", "json")  # the operator's view
    assert listed.returncode == 0, listed.stderr
    assert "outsider" not in listed.stdout and len(json.loads(listed.stdout)["nodes"]) == 3
    runs = site.flwr("ls", "consortium", "--format", "json")
    assert runs.returncode == 0 and json.loads(runs.stdout)["runs"] == [], runs.stdout + runs.stderr


def test_run_completes_when_a_supernode_dies(deployment: tuple[Site, list[Path], str], tmp_path: Path) -> None:
    """With three partners SecAgg+ needs all three (⌈3/2⌉ + 1 = 3): the round after a SuperNode dies is
    not aggregated, and the run completes with the trunk of round 1."""
    site, _, _ = deployment
    registry, run_id = submit(site, tmp_path, rounds=2, secagg_stage_timeout_s=60.0)
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
    assert run.rounds[-1].partners == []  # not aggregated: too few partners to reach the threshold
    with open_registry(registry).begin() as session:
        assert repository.list_versions(session)[0].lineage["rounds"] == 1
