"""What the project adds to Flower's deployment tools: TLS certificates, SuperNode keys, the app folder
that `flwr run` submits, and the CLI connection file.

The coordinator runs `flower-superlink` with the CA-signed certificate and ``--enable-supernode-auth``;
each partner registers its public key once (`flwr supernode register`) and runs `flower-supernode`
with its private key and its prepared folder as ``--node-config "data-dir='…'"``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedadmet.federated.config import FederationConfig

APP_NAME = "fedadmet-federation"


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def make_certificates(out_dir: Path, hosts: Sequence[str] = ("localhost", "127.0.0.1"), days: int = 365) -> Path:
    """A consortium CA (``ca.crt``) and the SuperLink's certificate (``server.pem``/``server.key``) for ``hosts``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fedadmet consortium CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    no_password = serialization.NoEncryption()
    (out_dir / "ca.crt").write_bytes(ca_cert.public_bytes(pem))
    _write_private(out_dir / "ca.key", ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, no_password))
    (out_dir / "server.pem").write_bytes(server_cert.public_bytes(pem))
    _write_private(
        out_dir / "server.key", server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, no_password)
    )
    return out_dir


def make_node_key(out_dir: Path, name: str) -> tuple[Path, Path]:
    """An ECDSA key pair in OpenSSH format: the private key stays at the partner, the ``.pub`` is registered."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private, public = out_dir / name, out_dir / f"{name}.pub"
    _write_private(
        private,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
    )
    ssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    public.write_bytes(ssh + f" {name}\n".encode())
    return private, public


def write_app(
    app_dir: Path,
    run_name: str,
    n_partners: int,
    checkpoint_dir: Path,
    federation: FederationConfig,
    registry_url: str = "",
    key_id: str = "",
) -> Path:
    """The Flower app folder `flwr run` submits: its pyproject names fedadmet's ServerApp and ClientApp
    (installed at every site) and carries the run config (overridable with ``--run-config``)."""
    app_dir = Path(app_dir)
    app_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "run-name": run_name,
        "num-partners": n_partners,
        "checkpoint-dir": str(Path(checkpoint_dir).resolve()),
        "registry-url": registry_url,
        "key-id": key_id,
        "federation": federation.model_dump_json(),
    }
    lines = [
        "[project]",
        f'name = "{APP_NAME}"',
        'version = "1.0.0"',
        'description = "fedadmet federated ADMET/Tox trunk"',
        'license = "Apache-2.0"',
        "dependencies = []  # fedadmet is installed at every site; nothing is installed at run time",
        "",
        "[tool.flwr.app]",
        'publisher = "fedadmet"',
        "",
        "[tool.flwr.app.components]",
        'serverapp = "fedadmet.federated.server_app:app"',
        'clientapp = "fedadmet.federated.client_app:app"',
        "",
        "[tool.flwr.app.config]",
        *(f"{key} = {json.dumps(value)}" for key, value in config.items()),
        "",
    ]
    (app_dir / "pyproject.toml").write_text("\n".join(lines))
    return app_dir


def write_cli_config(flwr_home: Path, address: str, ca_certificate: Path, name: str = "consortium") -> Path:
    """``$FLWR_HOME/config.toml`` naming the SuperLink connection that `flwr run`/`flwr ls` use."""
    flwr_home = Path(flwr_home)
    flwr_home.mkdir(parents=True, exist_ok=True)
    path = flwr_home / "config.toml"
    path.write_text(
        f'[superlink]\ndefault = "{name}"\n\n[superlink.{name}]\naddress = "{address}"\n'
        f'root-certificates = "{Path(ca_certificate).resolve()}"\n'
    )
    return path
