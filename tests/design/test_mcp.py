"""The MCP server through the SDK's own client: in memory, and over streamable HTTP with API keys."""

import anyio
import pytest
from mcp import Client
from starlette.testclient import TestClient

from fedadmet.mcp.server import build_server, http_app
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from tests.design.conftest import OBJECTIVE_TOML, TERFENADINE

TOOLS = {
    "profile_molecules",
    "standardise",
    "find_alerts",
    "propose_analogs",
    "score_molecules",
    "run_design",
    "list_models",
    "list_runs",
}


def objective_json() -> dict:
    import tomllib

    return tomllib.loads(OBJECTIVE_TOML)


def call(*calls: tuple[str, dict]) -> list:
    async def session() -> list:
        async with Client(build_server()) as client:
            listed = await client.list_tools()
            return [listed] + [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(session)


def test_tools_are_listed_with_schemas_and_profile_and_design_work() -> None:
    listed, profiled, designed, runs = call(
        ("profile_molecules", {"smiles": ["CCO", "c1ccccc1O"], "endpoints": ["hERG", "AMES"]}),
        ("run_design", {"start": [TERFENADINE], "objective": objective_json(), "budget": 9, "seed": 1}),
        ("list_runs", {}),
    )
    assert {tool.name for tool in listed.tools} == TOOLS
    schema = next(tool for tool in listed.tools if tool.name == "run_design")
    assert {"start", "objective", "budget"} <= set(schema.input_schema["properties"])
    assert schema.output_schema is not None
    assert not profiled.is_error
    molecules = profiled.structured_content["molecules"]
    assert [m["smiles"] for m in molecules] == ["CCO", "Oc1ccccc1"]
    assert set(molecules[0]["values"]) == {"hERG", "AMES"}
    assert not designed.is_error, designed.content
    assert designed.structured_content["budget_used"] == 9 and designed.structured_content["status"] == "completed"
    assert runs.structured_content["runs"][0]["id"] == designed.structured_content["run_id"]


def test_bad_input_is_a_tool_error_naming_the_molecule() -> None:
    _, bad_smiles, bad_objective, standardised = call(
        ("profile_molecules", {"smiles": ["CCO", "C1CC("]}),
        ("score_molecules", {"smiles": ["CCO"], "objective": {"goal": []}}),
        ("standardise", {"smiles": ["CCO.[Na+].[Cl-]", "XYZ"]}),
    )
    assert bad_smiles.is_error and "C1CC(" in bad_smiles.content[0].text
    assert bad_objective.is_error and "goal" in bad_objective.content[0].text
    assert standardised.is_error and "XYZ" in standardised.content[0].text


def test_http_needs_an_api_key_of_the_registry() -> None:
    with open_registry().begin() as session:
        key, _ = repository.create_api_key(session, "chemist")
    app = http_app(build_server())
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello}
        headers = {"Accept": "application/json, text/event-stream"}
        assert client.post("/mcp", json=body, headers=headers).status_code == 401
        assert client.post("/mcp", json=body, headers=headers | {"X-API-Key": "fa_wrong"}).status_code == 401
        allowed = client.post("/mcp", json=body, headers=headers | {"Authorization": f"Bearer {key}"})
        assert allowed.status_code == 200 and '"serverInfo":{"name":"fedadmet"' in allowed.text


def test_alerts_tool_names_each_alert() -> None:
    _, result = call(("find_alerts", {"smiles": ["c1ccccc1N=Nc1ccccc1"]}))
    assert "Brenk:diazo_group" in result.structured_content["alerts"]["c1ccc(N=Nc2ccccc2)cc1"]


@pytest.mark.slow
def test_fedadmet_mcp_serves_over_stdio(tmp_path) -> None:
    """`fedadmet mcp` as a client would start it: a subprocess speaking MCP on its standard streams."""
    import os
    import sys
    from pathlib import Path

    from mcp import StdioServerParameters

    import fedadmet

    command = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from fedadmet.cli import app; app()", "mcp"],
        env={
            **os.environ,
            "FEDADMET_HOME": str(tmp_path / "home"),
            "PYTHONPATH": str(Path(fedadmet.__file__).parents[1]),
        },
    )

    async def session() -> tuple:
        async with Client(command) as client:
            standardised = await client.call_tool("standardise", {"smiles": ["CCO.Cl"]})
            return await client.list_tools(), standardised, await client.call_tool("list_runs", {})

    listed, standardised, runs = anyio.run(session)
    assert not runs.is_error and runs.structured_content["runs"] == []  # the registry's logs kept off stdout
    assert {tool.name for tool in listed.tools} == TOOLS
    assert standardised.structured_content["molecules"][0]["smiles"] == "CCO"
