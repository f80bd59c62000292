import io
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import fedadmet.serve.app as serve_app
from fedadmet.config import get_settings
from fedadmet.data.public import approved_drugs
from fedadmet.exceptions import ArtifactError, InputError, ModelUnavailableError
from fedadmet.inference import predict
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.serve.app import create_app
from fedadmet.workflows.keys import local_api_key
from fedadmet.workflows.store import open_store

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def wait_for_job(client: TestClient, key: str, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": key}).json()
        if job["status"] in {"completed", "failed"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def molecules_csv(n: int, extra_bad: bool = True) -> bytes:
    drugs = approved_drugs().head(n)
    frame = pd.DataFrame({"name": drugs["name"], "smiles": drugs["smiles"]})
    if extra_bad:
        frame.loc[len(frame)] = ["typo", "C1CC"]
    return frame.to_csv(index=False).encode()


def test_health_needs_no_key_but_everything_else_does(api: tuple[TestClient, str]) -> None:
    client, key = api
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.head("/healthz").status_code == 200  # as monitors and load balancers often ask
    for method, path in [("get", "/v1/models"), ("post", "/v1/predict"), ("get", "/v1/jobs/x"), ("post", "/v1/jobs")]:
        answer = getattr(client, method)(path)
        assert answer.status_code == 401, path
        assert "API key" in answer.json()["detail"]
    assert client.get("/v1/models", headers={"X-API-Key": key + "x"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    spec = client.get("/openapi.json").json()
    # The schema says how to send the key (Swagger UI's Authorize button) and what each error answer means.
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key", "description": "An API key (`fedadmet keys create`)."
    }  # fmt: skip
    assert {"APIKeyHeader": []} in spec["paths"]["/v1/predict"]["post"]["security"]
    assert {"401", "413", "422"} <= set(spec["paths"]["/v1/predict"]["post"]["responses"])
    result = spec["paths"]["/v1/jobs/{job_id}/result"]["get"]["responses"]
    assert {"404", "409", "410"} <= set(result) and list(result["200"]["content"]) == ["text/csv"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_predict_returns_a_full_profile_per_molecule(api: tuple[TestClient, str]) -> None:
    client, key = api
    answer = client.post(
        "/v1/predict", json={"smiles": [ASPIRIN, "not-a-smiles"], "depict": True}, headers={"X-API-Key": key}
    )
    assert answer.status_code == 200
    aspirin, bad = answer.json()["molecules"]
    assert {e["name"] for e in aspirin["endpoints"]} == {"hERG", "AMES", "DILI", "Caco2_Wang", "Solubility_AqSolDB"}
    for row in aspirin["endpoints"]:
        assert row["value"] is not None and row["uncertainty"] is not None
        assert 0 <= row["percentile"] <= 100
        assert row["traffic_light"] in {"green", "amber", "red", "neutral"}
    assert aspirin["svg"].startswith("<svg") and isinstance(aspirin["in_domain"], bool)
    assert {axis["axis"] for axis in aspirin["radar"]} >= {"hERG safety", "Solubility", "Liver safety"}
    assert "not-a-smiles" in bad["error"] and "endpoints" not in bad


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (ArtifactError("the stored trees in /srv/models/secret do not fit together"), 500),
        (ModelUnavailableError("the profile workers keep dying"), 503),
        (InputError("the caller's molecule cannot be used"), 422),
    ],
)
def test_a_server_side_model_failure_is_a_5xx_and_only_the_callers_input_a_4xx(
    api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int
) -> None:
    client, key = api

    def failing(*_: object) -> None:
        raise failure

    monkeypatch.setattr(serve_app, "profile_cards", failing)
    answer = client.post("/v1/predict", json={"smiles": [ASPIRIN]}, headers={"X-API-Key": key})
    assert answer.status_code == status
    if status >= 500:  # the server's paths stay in its log
        assert "/srv/models" not in answer.json()["detail"] and "not your request" in answer.json()["detail"]
    else:
        assert "cannot be used" in answer.json()["detail"]


def test_predict_limits_and_clear_errors(api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    too_many = client.post("/v1/predict", json={"smiles": ["C"] * 1001}, headers=headers)
    assert too_many.status_code == 413 and "at most 1000" in too_many.json()["detail"]
    all_bad = client.post("/v1/predict", json={"smiles": ["C1CC", ""]}, headers=headers)
    assert all_bad.status_code == 422 and "molecule 1" in all_bad.json()["detail"]
    many_bad = client.post("/v1/predict", json={"smiles": [f"bad{i}(" for i in range(15)]}, headers=headers)
    assert many_bad.status_code == 422 and many_bad.json()["detail"].endswith("; and 5 more")
    wrong_type = client.post("/v1/predict", json={"smiles": "CCO"}, headers=headers)
    assert wrong_type.status_code == 422 and "smiles" in wrong_type.json()["detail"]
    wrong_item = client.post("/v1/predict", json={"smiles": ["CCO", 5]}, headers=headers)
    assert "smiles #2:" in wrong_item.json()["detail"]  # counted from 1, like the per-molecule errors
    huge = client.post("/v1/predict", content=b'{"smiles": ["' + b"C" * 2_000_000 + b'"]}', headers=headers)
    assert huge.status_code == 413 and "larger than 1 MB" in huge.json()["detail"]  # in MB, not 1000000 bytes
    # JSON can escape a lone surrogate, which is no text: refused by position, not a 500 when echoed back.
    as_json = headers | {"Content-Type": "application/json"}
    surrogate = client.post("/v1/predict", content=b'{"smiles": ["CCO", "C\\ud800"]}', headers=as_json)
    assert surrogate.status_code == 422 and "molecule 2" in surrogate.json()["detail"]
    for beyond_any_database in ("/v1/federation/runs/9223372036854775808", "/v1/federation/runs?offset=1e30"):
        assert client.get(beyond_any_database, headers=headers).status_code == 422
    assert client.get("/v1/federation/runs?offset=9223372036854775808", headers=headers).status_code == 422
    assert client.get("/v1/federation/runs/9223372036854775807", headers=headers).status_code == 404
    untyped = client.post("/v1/predict", content=b'{"smiles": ["CCO"]}', headers=headers)  # no Content-Type
    assert untyped.status_code == 422 and "Content-Type: application/json" in untyped.json()["detail"]


def test_batch_job_runs_in_the_background_and_returns_a_csv(api: tuple[TestClient, str]) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    answer = client.post("/v1/jobs", files={"file": ("drugs.csv", molecules_csv(30))}, headers=headers)
    assert answer.status_code == 202, answer.text
    job = wait_for_job(client, key, answer.json()["id"])
    assert job["status"] == "completed" and job["rows"] == job["done"] == 31 and job["errors"] == 1
    result = pd.read_csv(io.BytesIO(client.get(job["result"], headers=headers).content))
    assert len(result) == 31 and result["name"].iloc[-1] == "typo" and result["error"].notna().sum() == 1
    assert {"hERG", "hERG_uncertainty", "applicability_domain", "alerts"} <= set(result.columns)
    # Another user's key cannot see the job.
    with open_registry(get_settings().registry_url).begin() as session:
        other, _ = repository.create_api_key(session, "someone-else")
    assert client.get(f"/v1/jobs/{job['id']}", headers={"X-API-Key": other}).status_code == 404


def test_bad_uploads_are_refused_and_leave_nothing_behind(api: tuple[TestClient, str]) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    cases = {
        ("empty.csv", b""): "empty",
        ("cols.csv", b"name,value\na,1\n"): "no SMILES column",
        ("binary.csv", bytes(range(256))): "not UTF-8",
        ("molecules.xlsx", b"smiles\nCCO\n"): "unsupported file type",
        ("nothing.sdf", b"\n"): "",
    }
    for (name, data), message in cases.items():
        answer = client.post("/v1/jobs", files={"file": (name, data)}, headers=headers)
        assert 400 <= answer.status_code < 500 and message in answer.json()["detail"], (name, answer.text)
    two = client.post(
        "/v1/jobs",
        files=[("file", ("a.csv", b"smiles\nCCO\n")), ("file", ("b.csv", b"smiles\nCCN\n"))],
        headers=headers,
    )
    assert two.status_code == 422 and "2 parts" in two.json()["detail"]
    jobs_dir = get_settings().jobs_dir
    assert not jobs_dir.exists() or not any(jobs_dir.iterdir())


def test_jobs_survive_a_server_restart(serve_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDADMET_JOB_CHUNK_ROWS", "10")
    get_settings.cache_clear()
    settings = get_settings()
    key = local_api_key(open_store(settings.registry_url), settings.local_key_file)
    headers = {"X-API-Key": key}
    first = create_app(settings, serve_model_dir)  # lifespan not entered: no worker, like a server that died
    client = TestClient(first)
    resumed = client.post("/v1/jobs", files={"file": ("a.csv", molecules_csv(25, extra_bad=False))}, headers=headers)
    broken = client.post("/v1/jobs", files={"file": ("b.csv", molecules_csv(5, extra_bad=False))}, headers=headers)
    resumed_id, broken_id = resumed.json()["id"], broken.json()["id"]
    # The dead server had finished the first chunk of one job and had started the other.
    state = first.state.serving
    folder = settings.jobs_dir / resumed_id
    (folder / "chunks").mkdir()
    chunk = predict(pd.read_csv(folder / "input.csv").head(10), model=state.model)
    chunk.assign(name="from-before-the-restart").to_csv(folder / "chunks" / "000000.csv", index=False)
    with state.sessions.begin() as session:
        repository.update_job(session, resumed_id, status="running", n_done=10)
        repository.update_job(session, broken_id, status="running")
    (settings.jobs_dir / broken_id / "input.csv").unlink()

    with TestClient(create_app(settings, serve_model_dir)) as restarted:
        done = wait_for_job(restarted, key, resumed_id)
        failed = wait_for_job(restarted, key, broken_id)
    assert done["status"] == "completed" and done["done"] == 25
    assert "row 11" in done["message"] or done["message"] == ""
    result = pd.read_csv(io.BytesIO(TestClient(first).get(done["result"], headers=headers).content))
    assert len(result) == 25 and (result["name"].head(10) == "from-before-the-restart").all()
    assert (result["name"].tail(15) != "from-before-the-restart").all()
    assert failed["status"] == "failed" and "stored upload" in failed["message"] and "input.csv" in failed["message"]


def test_models_and_federation_runs_come_from_the_registry(api: tuple[TestClient, str]) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    versions = client.get("/v1/models", headers=headers).json()
    served = [v for v in versions if v["serving"]]
    assert len(served) == 1 and served[0]["kind"] == "centralised" and "hERG" in served[0]["metrics"]
    with open_registry(get_settings().registry_url).begin() as session:
        run = repository.start_run(session, "demo-run", "fedavg", True, {})
        repository.record_round(session, run.id, 1, ["a", "b"], {"evaluate": {"a": {"valid_score": 0.5}}})
    runs = client.get("/v1/federation/runs", headers=headers).json()
    assert runs[0]["name"] == "demo-run" and runs[0]["rounds"][0]["metrics"]["evaluate"]["a"]["valid_score"] == 0.5
    assert runs[0]["epsilon"] is None  # published with a DP run's version only
    one = client.get(f"/v1/federation/runs/{runs[0]['id']}", headers=headers)
    assert one.status_code == 200 and one.json() == runs[0]
    missing = client.get("/v1/federation/runs/999999", headers=headers)
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    # Paged, newest first, with the total in a header.
    with open_registry(get_settings().registry_url).begin() as session:
        later = [repository.start_run(session, f"later-{i}", "fedavg", True, {}).id for i in range(3)]
    page = client.get("/v1/federation/runs?limit=2&offset=1", headers=headers)
    assert [run["id"] for run in page.json()] == [later[1], later[0]]
    assert int(page.headers["X-Total-Count"]) == len(runs) + 3
    assert client.get("/v1/federation/runs?limit=0", headers=headers).status_code == 422
    # Restarting the server does not register the same model again.
    with TestClient(create_app(get_settings(), Path(served[0]["artifact_uri"]))) as again:
        assert len(again.get("/v1/models", headers=headers).json()) == len(versions)


def test_a_partners_key_sees_only_its_own_shared_metrics(api: tuple[TestClient, str]) -> None:
    client, operator_key = api
    scores = {p: {"valid_score": 0.1 * (i + 1)} for i, p in enumerate(["site_a", "site_b", "site_c", "site_d"])}
    scores["site_e"] = {"valid_score": float("nan")}  # a partner with nothing to score this round
    with open_registry(get_settings().registry_url).begin() as session:
        run = repository.start_run(session, "scoped-run", "fedavg", True, {})
        shared, excluded = {"evaluate": scores}, {"site_d": "dropped out"}
        repository.record_round(session, run.id, 1, list(scores), shared, excluded, bytes_sent=5000, epsilon=1.5)
        version = repository.publish_version(
            session, "scoped", kind="federated", artifact_uri="t", endpoints=[], metrics={"partners": scores}
        )
        repository.finish_run(session, run.id, "completed", model_version_id=version.id)
        partner_key, _ = repository.create_api_key(session, "site-b-chemist", partner="site_b")
        run_id, version_id = run.id, version.id
    seen = client.get(f"/v1/federation/runs/{run_id}", headers={"X-API-Key": partner_key}).json()
    assert seen["visible_to_partner"] == "site_b"
    (round_one,) = seen["rounds"]
    assert round_one["metrics"] == {"evaluate": {"site_b": {"valid_score": 0.2}}}
    mean = {"partners": {"valid_score": 4}, "valid_score": pytest.approx(0.25)}  # NaN is no score
    assert round_one["consortium_mean"]["evaluate"] == mean
    assert round_one["excluded"] == {} and round_one["excluded_hidden"] == 1
    assert round_one["epsilon"] == 1.5 and round_one["bytes_sent"] == 5000
    assert round_one["partners"] == list(scores)  # who took part is known to every member
    listed = client.get("/v1/federation/runs", headers={"X-API-Key": partner_key}).json()
    assert next(r for r in listed if r["id"] == run_id) == seen
    versions = client.get("/v1/models", headers={"X-API-Key": partner_key}).json()
    model = next(v for v in versions if v["id"] == version_id)
    assert model["metrics"]["partners"] == {"site_b": {"valid_score": 0.2}}
    # The operator's key (no partner) sees every partner's metrics and exclusions.
    everything = client.get(f"/v1/federation/runs/{run_id}", headers={"X-API-Key": operator_key}).json()
    everyone = everything["rounds"][0]["metrics"]["evaluate"]
    assert everything["visible_to_partner"] is None and everyone == scores | {"site_e": {"valid_score": None}}
    assert everything["rounds"][0]["excluded"] == {"site_d": "dropped out"}


def test_the_web_page_and_its_assets_are_served_without_a_cdn(api: tuple[TestClient, str]) -> None:
    client, _ = api
    page = client.get("/").text
    assert "/static/app.js" in page and "http" not in page.replace("http-equiv", "")
    script = client.get("/static/app.js").text
    assert "fetch(" in script and "cdn" not in script.lower()
    docs = client.get("/docs").text
    assert "http" not in docs and "/openapi.json" in docs
    bundle = client.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and 'PACKAGE_VERSION:"5.' in bundle.text  # Swagger UI 4 cannot read OpenAPI 3.1
    icon = client.get("/favicon.ico")  # every browser asks for it
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


def test_worker_processes_give_the_thread_answers_and_replace_a_dead_worker(
    api: tuple[TestClient, str], serve_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = api
    body = {"smiles": [ASPIRIN, "CCO", "not-a-smiles"], "depict": True}
    in_thread = client.post("/v1/predict", json=body, headers={"X-API-Key": key}).json()["molecules"]

    monkeypatch.setenv("FEDADMET_SERVE_PROCESSES", "2")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings(), serve_model_dir)) as served:
        workers = served.app.state.serving.workers
        assert workers is not None and len(workers._pool._processes) == 2
        in_workers = served.post("/v1/predict", json=body, headers={"X-API-Key": key}).json()["molecules"]
        assert in_workers == in_thread

        os.kill(next(iter(workers._pool._processes)), signal.SIGKILL)  # e.g. the out-of-memory killer
        again = served.post("/v1/predict", json=body, headers={"X-API-Key": key})
        assert again.status_code == 200 and again.json()["molecules"] == in_thread


def test_predict_profiles_only_the_chosen_endpoints_and_names_an_unknown_one(api: tuple[TestClient, str]) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    chosen = client.post("/v1/predict", json={"smiles": [ASPIRIN], "endpoints": ["AMES", "hERG"]}, headers=headers)
    assert chosen.status_code == 200
    assert [row["name"] for row in chosen.json()["molecules"][0]["endpoints"]] == ["AMES", "hERG"]
    unknown = client.post("/v1/predict", json={"smiles": [ASPIRIN], "endpoints": ["hERG", "LD50_Zhu"]}, headers=headers)
    assert unknown.status_code == 422 and "'LD50_Zhu'" in unknown.json()["detail"]
    assert "hERG" in unknown.json()["detail"]  # what may be chosen
    empty = client.post("/v1/predict", json={"smiles": [ASPIRIN], "endpoints": []}, headers=headers)
    assert empty.status_code == 422


def test_ids_sent_with_molecules_come_back_with_their_rows(api: tuple[TestClient, str]) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    sent = {"smiles": [ASPIRIN, "C1CC", "CCO"], "ids": ["ASP-1", "typo-7", "ETH-3"]}
    rows = client.post("/v1/predict", json=sent, headers=headers).json()["molecules"]
    assert [row["id"] for row in rows] == ["ASP-1", "typo-7", "ETH-3"]  # a refused molecule keeps its id too
    assert rows[1]["error"] and rows[2]["smiles"] == "CCO"
    # A SMILES line with its name, as in a .smi file or pasted from a spreadsheet; a CXSMILES stays whole.
    lines = ["CCO ethanol", "c1ccccc1O  phenol, crude", "CCO |$;;X$|", "CCN"]
    rows = client.post("/v1/predict", json={"smiles": lines}, headers=headers).json()["molecules"]
    assert [row["id"] for row in rows] == ["ethanol", "phenol, crude", None, None]
    assert rows[0]["input"] == "CCO" and rows[0]["error"] is None and rows[1]["smiles"] == "Oc1ccccc1"
    too_few = client.post("/v1/predict", json={"smiles": ["CCO", "CCN"], "ids": ["a"]}, headers=headers)
    assert too_few.status_code == 422 and "1 ids for 2 molecules" in too_few.json()["detail"]
    twice = client.post("/v1/predict", json={"smiles": ["CCO", "CCN amine"], "ids": ["a", "b"]}, headers=headers)
    assert twice.status_code == 422 and "molecule 2" in twice.json()["detail"]


def test_messages_speak_to_people_not_to_parsers(api: tuple[TestClient, str]) -> None:
    client, key = api
    no_key = client.post("/v1/predict", json={"smiles": ["CCO"]}).json()["detail"]
    assert "API key field of the web page" in no_key  # a chemist at the page has no headers to send
    as_json = {"X-API-Key": key, "Content-Type": "application/json"}
    broken = client.post("/v1/predict", content=b'{"smiles": ["CCO",]}', headers=as_json).json()["detail"]
    assert "not valid JSON" in broken and "character 19" in broken and "decode" not in broken
