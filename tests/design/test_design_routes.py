"""/v1/design routes and the REINVENT 4 REST scoring endpoint, on the app with the bundled model."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from fedadmet.config import get_settings
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.serve.app import create_app
from tests.design.conftest import OBJECTIVE_TOML, TERFENADINE


def objective_json() -> dict:
    import tomllib

    return tomllib.loads(OBJECTIVE_TOML)


@pytest.fixture
def client() -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    with open_registry(get_settings().registry_url).begin() as session:
        key, _ = repository.create_api_key(session, "chemist")
        other, _ = repository.create_api_key(session, "someone-else")
    with TestClient(create_app(get_settings())) as test_client:
        yield test_client, {"X-API-Key": key}, {"X-API-Key": other}


def test_design_run_is_started_polled_and_private(client) -> None:
    api, mine, theirs = client
    body = {"start": [TERFENADINE], "objective": objective_json(), "budget": 9, "seed": 2}
    assert api.post("/v1/design/runs", json=body).status_code == 401
    started = api.post("/v1/design/runs", json=body, headers=mine)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    run = api.get(f"/v1/design/runs/{run_id}", headers=mine).json()
    assert run["status"] == "completed" and run["generations"][0]["candidates"][0]["status"] == "start"
    assert api.get(f"/v1/design/runs/{run_id}", headers=theirs).status_code == 404
    assert api.get("/v1/design/runs/999", headers=mine).status_code == 404
    assert run["budget_used"] == 9
    assert [r["id"] for r in api.get("/v1/design/runs", headers=mine).json()] == [run_id]
    assert api.get("/v1/design/runs", headers=theirs).json() == []
    table = api.get(f"/v1/design/runs/{run_id}/molecules.csv", headers=mine)
    assert table.status_code == 200 and table.text.startswith("smiles,score,score_low,score_high")
    bad = api.post("/v1/design/runs", json=body | {"objective": {"goal": []}}, headers=mine)
    assert bad.status_code == 422 and "goal" in bad.json()["detail"]


def test_a_run_made_at_the_operators_machine_shows_to_keys_without_a_partner_only(client) -> None:
    """`fedadmet design run` records no key: the operator's keys (and the local key of `fedadmet serve`,
    which opens the web page) see it; a partner's key does not."""
    from fedadmet.design.objective import parse_objective
    from fedadmet.workflows.design import run_design

    api, mine, _ = client
    with open_registry(get_settings().registry_url).begin() as session:
        partner_key, _ = repository.create_api_key(session, "north-chemist", partner="north")
    partners = {"X-API-Key": partner_key}
    run = run_design([TERFENADINE], parse_objective(objective_json()), budget=5, seed=3, name="at-the-machine")
    assert [r["name"] for r in api.get("/v1/design/runs", headers=mine).json()] == ["at-the-machine"]
    assert api.get(f"/v1/design/runs/{run.id}", headers=mine).json()["budget_used"] == 5
    assert api.get("/v1/design/runs", headers=partners).json() == []
    assert api.get(f"/v1/design/runs/{run.id}", headers=partners).status_code == 404


def test_reinvent_rest_component_gets_values_by_query_id(client) -> None:
    api, mine, _ = client
    queries = [{"input_string": "CCO", "query_id": "0"}, {"input_string": "C1CC(", "query_id": "1"}]
    params = {"predictor_id": "hERG", "predictor_version": "1", "inp_fmt": "smiles"}
    answer = api.post("/v1/design/reinvent", json=queries, params=params, headers=mine)
    assert answer.status_code == 200, answer.text
    output = answer.json()["output"]
    assert [item["query_id"] for item in output["successes_list"]] == ["0"]
    assert 0 <= output["successes_list"][0]["output_value"] <= 1
    assert [item["query_id"] for item in output["failures_list"]] == ["1"]
    unknown = api.post("/v1/design/reinvent", json=queries, params=params | {"predictor_id": "Potency"}, headers=mine)
    assert unknown.status_code == 422
    run_id = api.post(
        "/v1/design/runs",
        json={"start": [TERFENADINE], "objective": objective_json(), "budget": 3},
        headers=mine,
    ).json()["id"]
    scored = api.post(
        "/v1/design/reinvent", json=queries[:1], params=params | {"predictor_id": f"run:{run_id}"}, headers=mine
    )
    assert 0 <= scored.json()["output"]["successes_list"][0]["output_value"] <= 1


def test_score_route_names_dropped_molecules(client) -> None:
    api, mine, _ = client
    objective = objective_json() | {"alerts": {"mode": "hard"}}
    answer = api.post(
        "/v1/design/score", json={"smiles": ["c1ccccc1N=Nc1ccccc1", "CCO"], "objective": objective}, headers=mine
    )
    assert answer.status_code == 200, answer.text
    azo, ethanol = answer.json()
    assert azo["dropped"].startswith("structural alert") and ethanol["dropped"] is None
