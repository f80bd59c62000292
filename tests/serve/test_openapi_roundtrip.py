"""Every route of the API, called for real, answers what its OpenAPI schema says: the JSON of each answer
validates against the schema the route publishes (JSON Schema 2020-12, as OpenAPI 3.1 uses), and every
operation the schema lists is called here, so that a route added without a typed answer fails this test."""

import io
import tomllib
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from fedadmet.config import get_settings
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from tests.campaigns.conftest import pool_file  # noqa: F401  (a fixture)
from tests.design.conftest import OBJECTIVE_TOML, TERFENADINE
from tests.serve.test_api import ASPIRIN, molecules_csv, wait_for_job

pytestmark = pytest.mark.slow  # a job, a campaign, a design run and a clinical report, all for real

CAMPAIGN_SPEC = {
    "objective": {"terms": [{"column": "pIC50", "goal": "maximize", "low": 4, "high": 8}]},
    "strategy": "greedy",
    "batch_size": 3,
}


class RoundTrip:
    """Calls routes and checks each answer against the schema of the operation it names."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client, self.headers = client, {"X-API-Key": key}
        self.spec = client.get("/openapi.json").json()
        self.called: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, path: str | None = None, **kwargs: Any) -> Any:
        answer = self.client.request(method, path or template, headers=self.headers, **kwargs)
        operation = self.spec["paths"][template][method.lower()]
        assert answer.status_code < 300, f"{method} {path or template}: {answer.status_code} {answer.text[:300]}"
        declared = operation["responses"][str(answer.status_code)]
        media = answer.headers["content-type"].split(";")[0]
        assert media in declared.get("content", {"application/json": {}}), f"{method} {template}: {media}"
        self.called.add((method.lower(), template))
        if media != "application/json":
            return answer
        schema = declared["content"]["application/json"].get("schema")
        assert schema, f"{method} {template} declares no schema for its answer"
        assert schema != {}, f"{method} {template} declares an untyped answer"
        document = {**schema, "components": self.spec.get("components", {})}
        problems = [e.message for e in Draft202012Validator(document).iter_errors(answer.json())]
        assert not problems, f"{method} {template}: {problems[:3]}"
        return answer.json()


def test_every_route_answers_what_its_schema_says(
    api: tuple[TestClient, str],
    pool_file,  # noqa: F811
    kept_clinical_report: str,
) -> None:
    client, key = api
    call = RoundTrip(client, key)
    with open_registry(get_settings().registry_url).begin() as session:
        run = repository.start_run(session, "schema-run", "fedavg", False, {})
        scores = {p: {"valid_score": 0.5} for p in ("a", "b", "c")}
        repository.record_round(session, run.id, 1, ["a", "b", "c"], {"evaluate": scores})
        repository.finish_run(session, run.id, "completed")
        run_id = run.id

    call("get", "/healthz")
    call("get", "/v1/limits")
    call("get", "/v1/endpoints")
    call("get", "/v1/reference/atc")
    call("get", "/v1/properties")
    body = {"smiles": [ASPIRIN, "C1CC", "CCO ethanol"], "depict": True, "endpoints": ["hERG", "Caco2_Wang"], "atc": "N"}
    profiles = call("post", "/v1/predict", json=body)
    assert [m["id"] for m in profiles["molecules"]] == [None, None, "ethanol"]
    assert profiles["percentile_reference"]["atc"] == "N" and profiles["molecules"][0]["rules"]
    assert call("get", "/v1/models")[0]["serving"] is True
    call("get", "/v1/federation/runs")
    call("get", "/v1/federation/runs/{run_id}", f"/v1/federation/runs/{run_id}")

    job = call("post", "/v1/jobs", files={"file": ("m.csv", molecules_csv(5))})
    wait_for_job(client, key, job["id"])
    call("get", "/v1/jobs")
    call("get", "/v1/jobs/{job_id}", f"/v1/jobs/{job['id']}")
    call("get", "/v1/jobs/{job_id}/result", f"/v1/jobs/{job['id']}/result")
    call("delete", "/v1/jobs/{job_id}", f"/v1/jobs/{job['id']}")

    pool = pd.read_csv(pool_file)
    campaign = {"name": "schema", "spec": CAMPAIGN_SPEC, "pool": pool[["compound_id", "smiles"]].to_dict("records")}
    call("post", "/v1/campaigns", json=campaign)
    call("get", "/v1/campaigns")
    picks = call("post", "/v1/campaigns/{campaign}/propose", "/v1/campaigns/schema/propose")["picks"]
    results = f"compound_id,endpoint,value\n{picks[0]['compound_id']},pIC50,6.5\n"
    files = {"file": ("r.csv", io.BytesIO(results.encode()))}
    call("post", "/v1/campaigns/{campaign}/results", "/v1/campaigns/schema/results", files=files)
    call("get", "/v1/campaigns/{campaign}", "/v1/campaigns/schema")
    call("get", "/v1/campaigns/{campaign}/report", "/v1/campaigns/schema/report")
    call("get", "/v1/campaigns/{campaign}/progress", "/v1/campaigns/schema/progress")
    order = "/v1/campaigns/{campaign}/rounds/{round_number}/order"
    call("get", order, "/v1/campaigns/schema/rounds/1/order")

    objective = tomllib.loads(OBJECTIVE_TOML)
    design = call("post", "/v1/design/runs", json={"start": [TERFENADINE], "objective": objective, "budget": 3})
    call("get", "/v1/design/runs")
    call("get", "/v1/design/runs/{run_id}", f"/v1/design/runs/{design['id']}")
    call("get", "/v1/design/runs/{run_id}/molecules.csv", f"/v1/design/runs/{design['id']}/molecules.csv")
    call("post", "/v1/design/score", json={"smiles": ["CCO", "C1CC("], "objective": objective})
    queries = [{"input_string": "CCO", "query_id": "0"}, {"input_string": "C1CC(", "query_id": "1"}]
    call("post", "/v1/design/reinvent", json=queries, params={"predictor_id": "hERG"})

    call("get", "/v1/clinical/reports")
    report = "/v1/clinical/reports/{name}"
    call("get", report, f"/v1/clinical/reports/{kept_clinical_report}")
    call("get", report + "/evaluation.png", f"/v1/clinical/reports/{kept_clinical_report}/evaluation.png")

    listed = {(method, path) for path, item in call.spec["paths"].items() for method in item}
    assert listed - call.called == set(), "routes this test does not call: add them"


def test_every_list_route_pages_the_same_way(api: tuple[TestClient, str]) -> None:
    """``limit`` and ``offset`` in the query, the page as a list, the whole list's length in X-Total-Count."""
    client, key = api
    headers = {"X-API-Key": key}
    with open_registry(get_settings().registry_url).begin() as session:
        for name in ("first", "second", "third"):
            repository.start_run(session, name, "fedavg", False, {})
    for number in range(3):
        assert client.post("/v1/jobs", files={"file": (f"m{number}.csv", molecules_csv(2))}, headers=headers).is_success
    spec = client.get("/openapi.json").json()
    list_routes = [
        path
        for path, item in spec["paths"].items()
        if "get" in item
        and item["get"]["responses"]["200"]["content"].get("application/json", {}).get("schema", {}).get("type")
        == "array"
    ]
    assert {"/v1/models", "/v1/federation/runs", "/v1/jobs", "/v1/campaigns", "/v1/design/runs"} <= set(list_routes)
    for path in list_routes:
        if path == "/v1/endpoints":  # the model's description, not a growing list
            continue
        parameters = {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])}
        assert {"limit", "offset"} <= parameters, path
        assert "X-Total-Count" in spec["paths"][path]["get"]["responses"]["200"]["headers"], path
        whole = client.get(path, headers=headers)
        total = int(whole.headers["X-Total-Count"])
        assert total == len(whole.json()), path
        if total >= 2:
            second = client.get(path, params={"limit": 1, "offset": 1}, headers=headers)
            # the same row (a job by its id: it may finish between the two calls), and the same total
            identity = [row.get("id", row) for row in second.json()], [row.get("id", row) for row in whole.json()[1:2]]
            assert identity[0] == identity[1], path
            assert second.headers["X-Total-Count"] == str(total), path
    runs = client.get("/v1/federation/runs", params={"limit": 2}, headers=headers)
    assert len(runs.json()) == 2 and runs.headers["X-Total-Count"] == "3"
    jobs = client.get("/v1/jobs", params={"limit": 1, "offset": 2}, headers=headers)
    assert [job["filename"] for job in jobs.json()] == ["m0.csv"] and jobs.headers["X-Total-Count"] == "3"
    models = client.get("/v1/models", headers=headers)
    assert models.headers["X-Total-Count"] == "1"  # the served version
