"""/v1/campaigns: the same keys as every route, and a partner's campaign seen by that partner only."""

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from fedadmet.config import get_settings
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry

pytestmark = pytest.mark.slow  # the app loads a model and featurises a pool

SPEC = {
    "objective": {"terms": [{"column": "pIC50", "goal": "maximize", "low": 4, "high": 8}]},
    "strategy": "greedy",
    "batch_size": 3,
}


def _key(user: str, partner: str | None) -> dict[str, str]:
    with open_registry(get_settings().registry_url).begin() as session:
        key, _ = repository.create_api_key(session, user, partner)
    return {"X-API-Key": key}


def test_a_partners_campaign_never_appears_in_another_keys_views(api: tuple[TestClient, str], pool_file: str) -> None:
    client, operator_key = api
    alpha, beta = _key("alpha-chemist", "alpha"), _key("beta-chemist", "beta")
    pool = pd.read_csv(pool_file)
    body = {"name": "alpha-mpro", "spec": SPEC, "pool": pool[["compound_id", "smiles"]].to_dict("records")}
    assert client.post("/v1/campaigns", json=body).status_code == 401
    created = client.post("/v1/campaigns", json=body, headers=alpha)
    assert created.status_code == 201, created.text
    assert created.json()["partner"] == "alpha" and created.json()["pool_size"] == len(pool)

    assert [c["name"] for c in client.get("/v1/campaigns", headers=alpha).json()] == ["alpha-mpro"]
    assert client.get("/v1/campaigns", headers=beta).json() == []
    assert [c["name"] for c in client.get("/v1/campaigns", headers={"X-API-Key": operator_key}).json()] == [
        "alpha-mpro"
    ]
    for method, path in [
        ("get", "/v1/campaigns/alpha-mpro"),
        ("get", f"/v1/campaigns/{created.json()['id']}"),
        ("post", "/v1/campaigns/alpha-mpro/propose"),
        ("get", "/v1/campaigns/alpha-mpro/report"),
        ("get", "/v1/campaigns/alpha-mpro/rounds/1/order"),
    ]:
        assert getattr(client, method)(path, headers=beta).status_code == 404, path
    results = io.BytesIO(b"compound_id,endpoint,value\nC000,pIC50,6\n")
    refused = client.post("/v1/campaigns/alpha-mpro/results", files={"file": ("r.csv", results)}, headers=beta)
    assert refused.status_code == 404
    assert client.get("/v1/campaigns/alpha-mpro", headers=alpha).json()["rounds"] == []  # beta's propose did nothing


def test_propose_ingest_and_order_files_over_rest(api: tuple[TestClient, str], pool_file: str) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    pool = pd.read_csv(pool_file)
    body = {"name": "open-mpro", "spec": SPEC, "pool": pool[["compound_id", "smiles"]].to_dict("records")}
    assert client.post("/v1/campaigns", json=body, headers=headers).status_code == 201
    assert client.post("/v1/campaigns", json=body, headers=headers).status_code == 422  # the name is taken
    proposed = client.post("/v1/campaigns/open-mpro/propose", headers=headers)
    assert proposed.status_code == 201, proposed.text
    picks = [p["compound_id"] for p in proposed.json()["picks"]]
    assert len(picks) == 3 and proposed.json()["order_files"] == ["round-001.csv", "round-001.sdf"]
    order = client.get("/v1/campaigns/open-mpro/rounds/1/order", params={"format": "csv"}, headers=headers)
    assert pd.read_csv(io.StringIO(order.text))["compound_id"].tolist() == picks
    assert client.get("/v1/campaigns/open-mpro/rounds/2/order", headers=headers).status_code == 404
    text = f"compound_id,endpoint,value\n{picks[0]},pIC50,6.5\n{picks[1]},pIC50,oops\n"
    ingested = client.post("/v1/campaigns/open-mpro/results", files={"file": ("r.csv", text)}, headers=headers)
    assert ingested.status_code == 200, ingested.text
    assert ingested.json()["stored"] == 1 and [r["row"] for r in ingested.json()["rejects"]] == [2]
    status = client.get("/v1/campaigns/open-mpro", headers=headers).json()
    assert set(status["pending"]) == set(picks[1:])
