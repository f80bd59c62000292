"""Batch jobs: upload formats and limits, the job list, and a worker that outlives failures."""

import gzip
import io
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from rdkit import Chem
from sqlalchemy.exc import OperationalError

import fedadmet.workflows.jobs as jobs
from fedadmet.config import get_settings
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.registry.tables import PredictionJob, utcnow
from tests.serve.test_api import ASPIRIN, molecules_csv, wait_for_job


def _submit(client: TestClient, key: str, name: str, data: bytes, **form: str) -> dict:
    answer = client.post("/v1/jobs", files={"file": (name, data)}, data=form, headers={"X-API-Key": key})
    assert answer.status_code == 202, answer.text
    return answer.json()


def _result(client: TestClient, key: str, job: dict) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(client.get(job["result"], headers={"X-API-Key": key}).content))


def test_an_unexpected_error_fails_that_job_and_the_next_one_still_runs(
    api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = api
    real_predict = jobs.profile

    def predict_failing_once(*args, **kwargs):
        monkeypatch.setattr(jobs, "profile", real_predict)
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(jobs, "profile", predict_failing_once)
    failed = wait_for_job(client, key, _submit(client, key, "a.csv", molecules_csv(3))["id"])
    completed = wait_for_job(client, key, _submit(client, key, "b.csv", molecules_csv(3))["id"])
    assert failed["status"] == "failed" and "something nobody expected" in failed["message"]
    assert completed["status"] == "completed"
    assert client.get("/healthz").status_code == 200


def test_a_registry_that_fails_for_a_moment_delays_the_job_without_losing_it(
    api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = api
    real_update = repository.update_job
    failures = []

    def update_locked_once(session, job_id, **changes):
        if "n_done" in changes and not failures:
            failures.append(job_id)
            raise OperationalError("UPDATE prediction_jobs", {}, Exception("database is locked"))
        return real_update(session, job_id, **changes)

    monkeypatch.setattr(jobs, "WORKER_RETRY_S", 0.1)
    monkeypatch.setattr(repository, "update_job", update_locked_once)
    job = wait_for_job(client, key, _submit(client, key, "a.csv", molecules_csv(4))["id"])
    assert failures == [job["id"]]
    assert job["status"] == "completed" and job["done"] == 5 and len(_result(client, key, job)) == 5


def test_health_reports_a_stopped_job_worker(api: tuple[TestClient, str]) -> None:
    client, _ = api
    client.app.state.serving.jobs.stop()
    answer = client.get("/healthz")
    assert answer.status_code == 503 and "batch-job worker" in answer.json()["status"]


def test_compressed_uploads_of_every_kind_keep_their_columns(api: tuple[TestClient, str]) -> None:
    client, key = api
    sdf = io.StringIO()
    writer = Chem.SDWriter(sdf)
    for corp_id, smiles in [("C-1", ASPIRIN), ("C-2", "CCO")]:
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("corp_id", corp_id)
        writer.write(mol)
    writer.close()
    uploads = {
        "mols.sdf.gz": gzip.compress(sdf.getvalue().encode()),
        "mols.tsv.gz": gzip.compress(f"corp_id\tsmiles\nC-1\t{ASPIRIN}\nC-2\tCCO\n".encode()),
    }
    for name, data in uploads.items():
        job = wait_for_job(client, key, _submit(client, key, name, data)["id"])
        assert job["status"] == "completed", (name, job)
        result = _result(client, key, job)
        assert result["corp_id"].tolist() == ["C-1", "C-2"] and result["hERG"].notna().all(), name


def test_an_archive_that_expands_past_the_upload_limit_is_refused(
    api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = api
    monkeypatch.setattr(get_settings(), "upload_max_bytes", 100_000)
    bomb = gzip.compress(b"smiles\n" + b"CCO\n" * 1_000_000)  # 4 MB of text in ~12 kB
    answer = client.post("/v1/jobs", files={"file": ("bomb.csv.gz", bomb)}, headers={"X-API-Key": key})
    assert answer.status_code == 413 and "100 kB" in answer.json()["detail"]
    assert not any(get_settings().jobs_dir.iterdir())


def test_too_many_rows_are_refused_with_the_limit(api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch) -> None:
    client, key = api
    monkeypatch.setattr(get_settings(), "job_max_rows", 10)
    answer = client.post("/v1/jobs", files={"file": ("big.csv", molecules_csv(20))}, headers={"X-API-Key": key})
    assert answer.status_code == 413 and "more than 10 molecules" in answer.json()["detail"]


def test_errors_name_the_uploaded_file_and_the_column_can_be_chosen(api: tuple[TestClient, str]) -> None:
    client, key = api
    data = f"id,structure\nx,{ASPIRIN}\n".encode()
    refused = client.post("/v1/jobs", files={"file": ("assay.csv", data)}, headers={"X-API-Key": key})
    assert refused.status_code == 422 and "SMILES column field" in refused.json()["detail"]  # as the page names it
    assert "smiles_column" not in refused.json()["detail"]  # a Python parameter a web user never sees
    empty = client.post("/v1/jobs", files={"file": ("my_empty.csv", b" \n")}, headers={"X-API-Key": key})
    assert "my_empty.csv" in empty.json()["detail"] and "empty" in empty.json()["detail"]
    job = wait_for_job(client, key, _submit(client, key, "assay.csv", data, smiles_column="structure")["id"])
    assert job["status"] == "completed" and _result(client, key, job)["hERG"].notna().all()


def test_the_job_list_shows_the_callers_jobs_newest_first(api: tuple[TestClient, str]) -> None:
    client, key = api
    first = _submit(client, key, "first.csv", molecules_csv(2))
    second = _submit(client, key, "second.csv", molecules_csv(2))
    listed = client.get("/v1/jobs", headers={"X-API-Key": key}).json()
    assert [job["id"] for job in listed] == [second["id"], first["id"]]
    assert all(datetime.fromisoformat(job["created"]).utcoffset() is not None for job in listed)
    with open_registry(get_settings().registry_url).begin() as session:
        other, _ = repository.create_api_key(session, "someone-else")
    assert client.get("/v1/jobs", headers={"X-API-Key": other}).json() == []


def test_a_short_job_does_not_wait_behind_a_long_one(
    api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = api
    real_predict = jobs.profile

    def slow_predict(frame, *args, **kwargs):
        time.sleep(0.2)  # a long job's chunks take a while
        return real_predict(frame, *args, **kwargs)

    real_update = repository.update_job
    recorded: list[int] = []  # the long job's progress, as written to the registry

    def record_update(session, job_id, **changes):
        if job_id == long["id"] and "n_done" in changes:
            recorded.append(changes["n_done"])
        return real_update(session, job_id, **changes)

    monkeypatch.setattr(get_settings(), "job_chunk_rows", 5)
    monkeypatch.setattr(jobs, "profile", slow_predict)
    monkeypatch.setattr(repository, "update_job", record_update)
    long = _submit(client, key, "long.csv", molecules_csv(49))
    wait_until(lambda: client.get(f"/v1/jobs/{long['id']}", headers={"X-API-Key": key}).json()["done"] > 0)
    short = _submit(client, key, "short.csv", molecules_csv(2))
    for job_id in (short["id"], long["id"]):
        job = wait_for_job(client, key, job_id)
        assert job["status"] == "completed", job
        if job_id == short["id"]:  # the long job was paused, not finished, when the short one was done
            assert client.get(f"/v1/jobs/{long['id']}", headers={"X-API-Key": key}).json()["status"] != "completed"
    assert recorded == list(range(5, 55, 5))  # resumed where it paused: progress never goes back
    result = _result(client, key, wait_for_job(client, key, long["id"]))
    assert len(result) == 50 and result["name"].tolist() == pd.read_csv(io.BytesIO(molecules_csv(49)))["name"].tolist()


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_owner_cancels_a_running_job_and_deletes_a_finished_ones_files(
    api: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = api
    headers = {"X-API-Key": key}
    real_predict = jobs.profile

    def slow_predict(frame, *args, **kwargs):
        time.sleep(0.2)
        return real_predict(frame, *args, **kwargs)

    monkeypatch.setattr(get_settings(), "job_chunk_rows", 5)
    monkeypatch.setattr(jobs, "profile", slow_predict)
    with open_registry(get_settings().registry_url).begin() as session:
        other_key, _ = repository.create_api_key(session, "someone-else")
    running = _submit(client, key, "long.csv", molecules_csv(49))
    wait_until(lambda: client.get(f"/v1/jobs/{running['id']}", headers=headers).json()["done"] > 0)
    waiting = _submit(client, key, "longer.csv", molecules_csv(99))  # queued: shortest first
    folder = get_settings().jobs_dir / running["id"]

    # Someone else's key cannot touch the job.
    assert client.delete(f"/v1/jobs/{running['id']}", headers={"X-API-Key": other_key}).status_code == 404
    assert client.get(f"/v1/jobs/{running['id']}", headers=headers).json()["status"] == "running"

    queued = client.delete(f"/v1/jobs/{waiting['id']}", headers=headers).json()  # its files go at once
    assert queued["status"] == "cancelled" and not (get_settings().jobs_dir / waiting["id"]).exists()
    assert "before it started" in queued["message"]
    cancelled = client.delete(f"/v1/jobs/{running['id']}", headers=headers).json()
    assert cancelled["status"] == "cancelled" and "after" in cancelled["message"]
    wait_until(lambda: not folder.exists())  # the worker stops within a chunk and removes the files
    done_when_cancelled = client.get(f"/v1/jobs/{running['id']}", headers=headers).json()["done"]
    assert done_when_cancelled < 50

    monkeypatch.setattr(jobs, "profile", real_predict)
    finished = wait_for_job(client, key, _submit(client, key, "short.csv", molecules_csv(3))["id"])
    assert finished["status"] == "completed"
    again = client.get(f"/v1/jobs/{running['id']}", headers=headers).json()
    assert (again["status"], again["done"]) == ("cancelled", done_when_cancelled)  # never resumed
    assert client.get(f"/v1/jobs/{waiting['id']}", headers=headers).json()["done"] == 0

    deleted = client.delete(f"/v1/jobs/{finished['id']}", headers=headers).json()
    assert deleted["status"] == "deleted" and "deleted" in deleted["message"]
    assert not (get_settings().jobs_dir / finished["id"]).exists()
    gone = client.get(finished["result"], headers=headers)
    assert gone.status_code == 410 and "deleted" in gone.json()["detail"]
    assert client.delete(f"/v1/jobs/{finished['id']}", headers=headers).json()["status"] == "deleted"  # idempotent
    listed = {job["id"]: job["status"] for job in client.get("/v1/jobs", headers=headers).json()}
    assert [listed[j] for j in (running["id"], waiting["id"], finished["id"])] == ["cancelled", "cancelled", "deleted"]


def test_a_restart_removes_files_a_stopped_worker_left_of_a_withdrawn_job(api: tuple[TestClient, str]) -> None:
    client, key = api
    job = wait_for_job(client, key, _submit(client, key, "a.csv", molecules_csv(2))["id"])
    folder = get_settings().jobs_dir / job["id"]
    with open_registry(get_settings().registry_url).begin() as session:
        repository.withdraw_job(session, job["id"])  # as if the server stopped before removing the files
    assert folder.is_dir()
    client.app.state.serving.jobs.recover()
    assert not folder.exists()


def test_shortest_first_never_starves_a_job_that_has_waited_long() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def job(name: str, rows: int, waited_s: float, status: str = "queued") -> PredictionJob:
        stamp = (now - timedelta(seconds=waited_s)).replace(tzinfo=None)  # as SQLite hands times back
        return PredictionJob(id=name, status=status, n_rows=rows, n_done=0, updated=stamp, created=stamp)

    big, small, newer_small = job("big", 1_000_000, 500), job("small", 10, 5), job("newer", 10, 1)
    assert jobs.choose_job([big, small, newer_small], now, max_wait_s=600) == (small, False)  # shortest, oldest
    older_big = job("older-big", 2_000_000, 900)
    assert jobs.choose_job([job("big", 1_000_000, 700), older_big, small], now, 600) == (older_big, True)
    # a running job (left by a registry failure) is resumed by size, never counted as waiting
    assert jobs.choose_job([job("left", 50, 5000, status="running"), small], now, 600) == (small, False)


def test_a_job_that_waited_long_runs_first_and_is_not_paused_for_shorter_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = get_settings()
    sessions = open_registry(f"sqlite:///{tmp_path / 'jobs.db'}")
    service = jobs.JobService(sessions, settings, model=None, model_uri="m")  # its worker is not started
    with sessions.begin() as session:
        for name, rows in [("big", 1000), ("small", 1)]:
            repository.create_job(session, name, filename=name, folder="/x", model_uri="m", n_rows=rows, user_id=None)
        session.get(PredictionJob, "big").updated = utcnow() - timedelta(seconds=settings.job_max_wait_s + 60)
    picked: list[tuple[str, bool]] = []  # each job run, and whether a shorter one would pause it
    monkeypatch.setattr(
        service, "run_job", lambda job_id: picked.append((job_id, service._shorter_job_waits(job_id, 1000)))
    )
    assert service._run_next()
    assert picked == [("big", False)]
    with sessions.begin() as session:  # once it has run, it waits as long as any other job
        session.get(PredictionJob, "big").updated = utcnow()
    assert service._run_next()
    assert picked[-1][0] == "small" and service._shorter_job_waits("big", 1000)


def test_a_job_profiles_only_the_chosen_endpoints(api: tuple[TestClient, str]) -> None:
    client, key = api
    data = f"id,smiles\nx,{ASPIRIN}\n".encode()
    job = wait_for_job(client, key, _submit(client, key, "few.csv", data, endpoints="AMES, hERG")["id"])
    columns = set(_result(client, key, job).columns)
    assert {"AMES", "hERG"} <= columns and not any(column.startswith("Caco2_Wang") for column in columns)
    unknown = client.post(
        "/v1/jobs", files={"file": ("few.csv", data)}, data={"endpoints": "hERG,LD50"}, headers={"X-API-Key": key}
    )
    assert unknown.status_code == 422 and "'LD50'" in unknown.json()["detail"]
