"""The Fleet-only gateway in front of the SuperLink: SuperNodes' paths go on, the operator's never do."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from fedadmet.federated.deploy import make_certificates
from fedadmet.federated.gateway import forwards, gateway_app


@pytest.mark.parametrize(
    ("path", "passes"),
    [
        ("/v1/fleet/pull-messages", True),
        ("/v1/fleet/register-node", True),  # accepted by the SuperLink only for keys the operator registered
        ("/v1/control/start-run", False),  # `flwr run`
        ("/v1/control/register-supernode", False),  # `flwr supernode register`
        ("/v1/runtime/get-run", False),
        ("/v1/fleet/../control/start-run", False),
        ("/docs", False),
    ],
)
def test_only_the_fleet_api_is_forwarded(path: str, passes: bool) -> None:
    assert forwards(path) is passes


def test_the_gateway_answers_403_to_control_paths_and_502_without_a_superlink(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    with TestClient(gateway_app("127.0.0.1:9", certs / "ca.crt")) as client:
        assert client.post("/v1/control/start-run", content=b"x").status_code == 403
        assert client.post("/v1/fleet/get-run", content=b"x").status_code == 502  # nothing listens on port 9


def test_the_readmes_flower_connection_is_valid_toml() -> None:
    """The README's config.toml lines, as a reader copies them (without the leading '#   ')."""
    import tomllib

    lines = (Path(__file__).parents[2] / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "config.toml names the connection" in line) + 1
    snippet = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        snippet.append(line.removeprefix("#").removeprefix("   "))
    parsed = tomllib.loads("\n".join(snippet))
    assert parsed["superlink"]["default"] == "consortium"
    assert parsed["superlink"]["consortium"]["address"] == "127.0.0.1:9095"
