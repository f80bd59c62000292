"""The MCP server through the SDK's own client: in memory, and over streamable HTTP with API keys."""

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.testclient import TestClient

from fedadmet.mcp.server import build_server, http_app
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.workflows.keys import create_key
from fedadmet.workflows.store import open_store
from tests.design.conftest import OBJECTIVE_TOML, TERFENADINE
from tests.served import served

TOOLS = {
    "profile_molecules",
    "standardise",
    "find_alerts",
    "propose_analogs",
    "score_molecules",
    "run_design",
    "list_models",
    "list_runs",
    "list_federation_runs",
    "list_campaigns",
    "create_campaign",
    "propose_batch",
    "ingest_results",
    "campaign_status",
}
CAMPAIGN_SPEC = {
    "objective": {"terms": [{"column": "pIC50", "goal": "maximize", "low": 4, "high": 8}]},
    "strategy": "greedy",
    "batch_size": 2,
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


def test_a_campaign_loop_through_the_tools_names_bad_pool_and_result_rows() -> None:
    pool = [
        {"compound_id": "P1", "smiles": "CCO"},
        {"compound_id": "P2", "smiles": "c1ccccc1O"},
        {"compound_id": "P3", "smiles": "C1CC("},  # unreadable: left out, named
        "CC(=O)Oc1ccccc1C(=O)O",  # a bare SMILES: named by position
        {"compound_id": "P5", "smiles": "CCN(CC)CC"},
    ]
    results_of = "compound_id,endpoint,value\n{0},pIC50,6.5\n{1},pIC50,oops\nNOPE,pIC50,5\n"
    calls: list = []

    async def session() -> None:
        async with Client(build_server()) as client:
            calls.append(
                await client.call_tool("create_campaign", {"name": "loop", "spec": CAMPAIGN_SPEC, "pool": pool})
            )
            calls.append(await client.call_tool("propose_batch", {"campaign": "loop"}))
            picks = [pick["compound_id"] for pick in calls[-1].structured_content["picks"]]
            results = results_of.format(*picks)
            calls.append(await client.call_tool("ingest_results", {"campaign": "loop", "results_csv": results}))
            calls.append(await client.call_tool("ingest_results", {"campaign": "loop", "results_csv": results}))
            calls.append(await client.call_tool("campaign_status", {"campaign": "loop"}))
            calls.append(await client.call_tool("propose_batch", {"campaign": "loop"}))
            calls.append(await client.call_tool("list_campaigns", {}))
            calls.append(await client.call_tool("create_campaign", {"name": "bare", "spec": CAMPAIGN_SPEC}))
            calls.append(
                await client.call_tool(
                    "create_campaign", {"name": "all-bad", "spec": CAMPAIGN_SPEC, "pool_csv": "id,smiles\nB1,C1CC(\n"}
                )
            )
            bad_spec = CAMPAIGN_SPEC | {"strategy": "astrology"}
            calls.append(await client.call_tool("create_campaign", {"name": "x", "spec": bad_spec, "pool": ["CCO"]}))

    anyio.run(session)
    created, proposed, ingested, again, status, second, listed, no_pool, all_bad, bad_spec = calls
    assert not created.is_error, created.content
    assert created.structured_content["pool_size"] == 4 and created.structured_content["partner"] is None
    assert [(r["row"], r["compound_id"]) for r in created.structured_content["pool_rejects"]] == [(3, "P3")]
    assert not proposed.is_error, proposed.content
    picks = [pick["compound_id"] for pick in proposed.structured_content["picks"]]
    assert proposed.structured_content["round"] == 1 and len(picks) == 2 and "P3" not in picks
    assert proposed.structured_content["order_files"] == ["round-001.csv", "round-001.sdf"]
    assert not ingested.is_error, ingested.content
    assert ingested.structured_content["stored"] == 1 and ingested.structured_content["rows"] == 3
    assert [r["row"] for r in ingested.structured_content["rejects"]] == [2, 3]
    assert again.is_error and "already" in again.content[0].text
    assert not status.is_error, status.content
    assert status.structured_content["measured_compounds"] == 1
    assert status.structured_content["pending"] == [picks[1]]
    assert status.structured_content["best"][0]["compound_id"] == picks[0]
    assert status.structured_content["rounds"][0]["measured"] == 1
    assert not second.is_error and second.structured_content["round"] == 2
    assert not set(picks) & {pick["compound_id"] for pick in second.structured_content["picks"]}
    assert [c["name"] for c in listed.structured_content["campaigns"]] == ["loop"]
    assert no_pool.is_error and "pool" in no_pool.content[0].text
    assert all_bad.is_error and "C1CC(" in all_bad.content[0].text
    assert bad_spec.is_error and "astrology" in bad_spec.content[0].text


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


@pytest.fixture
def mcp_over_http() -> Iterator[str]:
    """`fedadmet mcp --http` as it serves: the streamable-HTTP app behind the API-key check, on a free port."""
    with served(http_app(build_server())) as port:
        yield f"http://127.0.0.1:{port}/mcp"


def call_over_http(address: str, key: str, *calls: tuple[str, dict]) -> list:
    """The SDK's own client over streamable HTTP, with ``key`` in the X-API-Key header."""

    async def session() -> list:
        http = httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=120)
        async with http, Client(streamable_http_client(address, http_client=http)) as client:
            return [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(session)


def test_a_partners_key_sees_only_its_own_models_runs_and_campaigns_over_http(
    mcp_over_http: str, tmp_path: Path
) -> None:
    store = open_store()
    north, south = create_key(store, "north-chemist", "north"), create_key(store, "south-chemist", "south")
    scores = {p: {"valid_score": 0.5 + i / 10} for i, p in enumerate(["north", "south", "west"])}
    with store.begin() as session:
        run = repository.start_run(session, "consortium-run", "fedavg", True, {})
        repository.record_round(session, run.id, 1, list(scores), {"evaluate": scores})
        version = repository.publish_version(
            session,
            "consortium",
            kind="federated",
            artifact_uri=str(tmp_path / "trunk"),
            endpoints=[],
            metrics={"partners": scores},
        )
        repository.finish_run(session, run.id, "completed", model_version_id=version.id)
    pool_csv = "compound_id,smiles\nN1,CCO\nN2,c1ccccc1O\nN3,CC(=O)Oc1ccccc1C(=O)O\n"

    created, designed, north_models, north_runs, north_campaigns, north_status = call_over_http(
        mcp_over_http,
        north.key,
        ("create_campaign", {"name": "north-mpro", "spec": CAMPAIGN_SPEC, "pool_csv": pool_csv}),
        ("run_design", {"start": [TERFENADINE], "objective": objective_json(), "budget": 9, "seed": 1}),
        ("list_models", {}),
        ("list_federation_runs", {}),
        ("list_campaigns", {}),
        ("campaign_status", {"campaign": "north-mpro"}),
    )
    assert not designed.is_error, designed.content
    south_models, south_runs, design_runs, south_campaigns, south_status, south_propose, south_ingest = call_over_http(
        mcp_over_http,
        south.key,
        ("list_models", {}),
        ("list_federation_runs", {}),
        ("list_runs", {}),
        ("list_campaigns", {}),
        ("campaign_status", {"campaign": "north-mpro"}),
        ("propose_batch", {"campaign": "north-mpro"}),
        (
            "ingest_results",
            {
                "campaign": str(created.structured_content["id"]),
                "results_csv": "compound_id,endpoint,value\nN1,pIC50,6\n",
            },
        ),
    )

    def published(result) -> dict:
        return next(m for m in result.structured_content["models"] if m["name"] == "consortium")

    assert set(published(north_models)["metrics"]["partners"]) == {"north"}
    assert set(published(south_models)["metrics"]["partners"]) == {"south"}
    assert published(south_models)["location"] == ""  # the operator's file paths stay with the operator
    assert all(m["location"] == "" for m in south_models.structured_content["models"])
    (south_round,) = south_runs.structured_content["runs"][0]["rounds"]
    assert set(south_round["metrics"]["evaluate"]) == {"south"}
    assert set(north_runs.structured_content["runs"][0]["rounds"][0]["metrics"]["evaluate"]) == {"north"}
    assert design_runs.structured_content["runs"] == []  # north's design run is north's chemist's
    assert [c["name"] for c in north_campaigns.structured_content["campaigns"]] == ["north-mpro"]
    assert not north_status.is_error and north_status.structured_content["partner"] == "north"
    assert south_campaigns.structured_content["campaigns"] == []
    assert south_status.is_error and "north-mpro" in south_status.content[0].text
    assert south_propose.is_error and south_ingest.is_error  # as if the campaign did not exist
    assert not created.is_error and created.structured_content["partner"] == "north"
    assert north_status.structured_content["rounds"] == [] and north_status.structured_content["ingests"] == []
    # In process (stdio's case) the caller is the person at this machine: the operator sees everything.
    _, operator_runs, operator_models, operator_campaigns = call(
        ("list_runs", {}), ("list_models", {}), ("list_campaigns", {})
    )
    assert [c["name"] for c in operator_campaigns.structured_content["campaigns"]] == ["north-mpro"]
    assert operator_runs.structured_content["runs"][0]["id"] == designed.structured_content["run_id"]
    assert set(published(operator_models)["metrics"]["partners"]) == set(scores)
