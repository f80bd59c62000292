"""≥ 10,000 malformed requests: every answer is a 4xx with a message, and nothing stored changes."""

import json
import random
import string
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fedadmet.config import get_settings
from fedadmet.registry import repository
from fedadmet.registry.database import open_registry
from fedadmet.registry.tables import ApiKey, ModelVersion, PredictionJob, User
from fedadmet.serve.app import create_app
from tests.serve.test_api import molecules_csv, wait_for_job

N_REQUESTS = 10_000
Request = tuple[str, str, dict]


@pytest.fixture
def small_limits_api(serve_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, str]]:
    for name, value in {
        "API_MAX_MOLECULES": "20",
        "API_MAX_BODY_BYTES": "20000",
        "UPLOAD_MAX_BYTES": "30000",
        "JOB_MAX_ROWS": "50",
        "BATCH_WAIT_MS": "0",
    }.items():
        monkeypatch.setenv(f"FEDADMET_{name}", value)
    get_settings.cache_clear()
    settings = get_settings()
    with open_registry(settings.registry_url).begin() as session:
        key, _ = repository.create_api_key(session, "fuzz")
    with TestClient(create_app(settings, serve_model_dir)) as client:
        yield client, key


def random_text(rng: random.Random, low: int = 0, high: int = 40) -> str:
    alphabet = string.printable + "ßé漢\u0000\ufffd[]()=#@+-"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def token(rng: random.Random, extra: str) -> str:
    """Random characters that can travel in a URL path or a header (the client refuses others)."""
    return "".join(rng.choice(string.ascii_letters + string.digits + extra) for _ in range(rng.randint(1, 40)))


def bad_smiles(rng: random.Random) -> str:
    choices = [
        lambda: random_text(rng, 1, 30) + "(((",
        lambda: "C1CC" + "C" * rng.randint(0, 5),  # unclosed ring
        lambda: "c1ccccc1" + "[Xx]",
        lambda: "C" * 10_000,  # too long
        lambda: "".join(rng.choice("()[]=#%") for _ in range(rng.randint(1, 12))),
        lambda: "",
        lambda: " " * rng.randint(1, 5),
        lambda: "[C@@H](F)(Cl)(Br)(I)(O)",  # impossible valence
        lambda: rng.choice(["ethanol CCO", "benzene\tc1ccccc1", "acetic acid CC(=O)O"]),  # the name first
        lambda: rng.choice(["[C+999]", "CC[O-8]", "[C+257]", "[999999C]", "CC[N-5]"]),  # numbers RDKit wraps
        lambda: "CC" + rng.choice("ÖЖ→\u200b"),  # RDKit would read only the CC
    ]
    return rng.choice(choices)()


def malformed_requests(rng: random.Random, key: str, job_id: str) -> Iterator[Request]:
    good = {"X-API-Key": key}
    wrong_keys = [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": "fa_" + "x" * 32},
        {"Authorization": "Bearer nope"},
        {"X-API-Key": key[:-1]},
        {"X-API-Key": token(rng, string.punctuation)},
    ]
    predict_bodies: list[Callable[[], object]] = [
        lambda: {"smiles": [bad_smiles(rng) for _ in range(rng.randint(1, 5))]},
        lambda: {"smiles": rng.choice([None, 1, "CCO", {"a": 1}, [1, 2], [None], [["CCO"]], True, 3.5])},
        lambda: {"smiles": []},
        lambda: {"smiles": ["CCO"] * rng.randint(21, 60)},  # over the per-request limit
        lambda: {"smiles": ["CCO"], "depict": rng.choice(["yes", 2, [], {}])},
        lambda: {"smiles": ["CCO"], random_text(rng, 1, 8) or "x": 1},  # unknown field
        lambda: rng.choice([[], "text", 42, None, [{"smiles": ["CCO"]}]]),
        lambda: {"SMILES": ["CCO"]},
        # ids: not text, or not one per molecule, or beside a name on the line
        lambda: {"smiles": ["CCO"], "ids": rng.choice(["a", [1], ["a", "b"], [], [None], {"a": 1}])},
        lambda: {"smiles": ["CCO name"], "ids": ["id"]},
        # endpoints: unknown, empty, or not a list of names
        lambda: {"smiles": ["CCO"], "endpoints": rng.choice([[], ["LD50_Zhu"], ["herg"], [random_text(rng, 1, 20)]])},
        lambda: {"smiles": ["CCO"], "endpoints": rng.choice(["hERG", [1], [None], {"hERG": True}, True])},
    ]
    list_routes = [
        "/v1/models",
        "/v1/federation/runs",
        "/v1/jobs",
        "/v1/campaigns",
        "/v1/design/runs",
        "/v1/clinical/reports",
    ]
    bad_pages = [{"limit": 0}, {"limit": 501}, {"limit": -3}, {"offset": -1}, {"offset": 2**63}, {"limit": "ten"}]
    while True:
        kind = rng.randrange(11)
        if kind == 0:
            path = rng.choice(["/v1/predict", "/v1/models", "/v1/jobs/" + job_id, "/v1/federation/runs", "/v1/limits"])
            method = "post" if path == "/v1/predict" else rng.choice(["get", "delete"])
            yield (
                method,
                path,
                {"headers": rng.choice(wrong_keys), "json": {"smiles": ["CCO"]} if method == "post" else None},
            )
        elif kind in (1, 2, 3):
            yield "post", "/v1/predict", {"headers": good, "json": rng.choice(predict_bodies)()}
        elif kind == 4:  # not JSON at all
            surrogate = b'{"smiles": ["CCO", "C\\u%x"]}' % rng.randrange(0xD800, 0xE000)  # JSON escapes no text
            surrogate_id = b'{"smiles": ["CCO"], "ids": ["\\u%x"]}' % rng.randrange(0xD800, 0xE000)
            body = rng.choice(
                [random_text(rng, 0, 200).encode(), b"\xff\xfe\x00", b'{"smiles": [', b"null", surrogate, surrogate_id]
            )
            yield "post", "/v1/predict", {"headers": good | {"content-type": "application/json"}, "content": body}
        elif kind == 5:  # huge payloads
            size = rng.choice([20_001, 50_000, 200_000])
            body = json.dumps({"smiles": ["C" * size]}).encode()
            yield "post", rng.choice(["/v1/predict", "/v1/jobs"]), {"headers": good, "content": body}
        elif kind == 6:  # bad uploads
            name, data = rng.choice(
                [
                    ("empty.csv", b""),
                    ("noise.csv", bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))),
                    ("wrong.xlsx", b"smiles\nCCO\n"),
                    ("nosmiles.csv", b"name,value\na,1\nb,2\n"),
                    ("header.csv", b"smiles\n"),
                    ("blank.csv", b"smiles,name\n,a\n"),
                    ("many.csv", b"smiles\n" + b"CCO\n" * 60),  # over the job row limit
                    ("big.csv", b"smiles\n" + b"C" * 40_000 + b"\n"),  # over the upload limit
                    ("broken.sdf", random_text(rng, 0, 100).encode()),
                    ("quotes.csv", b'smiles,name\n"CCO,unclosed\n'),
                ]
            )
            field = rng.choice(["file", "file", "upload"])
            yield "post", "/v1/jobs", {"headers": good, "files": {field: (name, data)}}
        elif kind == 7:  # not multipart, or no file
            yield "post", "/v1/jobs", {"headers": good, "content": random_text(rng, 0, 100).encode()}
        elif kind == 8:  # unknown, foreign or unfinished jobs
            job = rng.choice([token(rng, "-_.~%"), "0" * 32, "..%2F..%2Fetc%2Fpasswd", "%00", job_id[:-1]])
            method = rng.choice(["get", "delete"])  # deleting a job that is not the caller's: 404, nothing changes
            yield method, rng.choice([f"/v1/jobs/{job}", f"/v1/jobs/{job}/result"]), {"headers": good}
        elif kind == 9:  # list routes: pages that cannot be, or no key
            path = rng.choice(list_routes)
            if rng.random() < 0.3:
                yield "get", path, {"headers": rng.choice(wrong_keys)}
            else:
                yield "get", path, {"headers": good, "params": rng.choice(bad_pages)}
        else:  # wrong methods and paths
            method, path = rng.choice(
                [
                    ("delete", "/v1/predict"),
                    ("get", "/v1/predict"),
                    ("put", "/v1/models"),
                    ("post", "/v1/models"),
                    ("get", "/v1/nothing"),
                    ("patch", "/healthz"),
                    ("get", f"/v1/federation/runs/{rng.choice([0, -1, 2**63, 10**30])}"),  # beyond any stored id
                    ("get", f"/v1/federation/runs?offset={rng.choice([-1, 2**63, 10**30])}"),
                ]
            )
            yield method, path, {"headers": good}


def stored_state(client: TestClient) -> dict:
    sessions = client.app.state.serving.sessions
    with sessions() as session:

        def rows(table: type) -> list[tuple]:
            return [tuple(sorted(vars(r).items(), key=str)[1:]) for r in session.scalars(select(table))]

        state = {t.__name__: sorted(map(str, rows(t))) for t in (PredictionJob, ModelVersion, User, ApiKey)}
    jobs_dir = get_settings().jobs_dir
    state["files"] = sorted((str(p), p.stat().st_size) for p in jobs_dir.rglob("*") if p.is_file())
    return state


def test_ten_thousand_malformed_requests_get_clear_4xx_and_change_nothing(
    small_limits_api: tuple[TestClient, str],
) -> None:
    client, key = small_limits_api
    submitted = client.post("/v1/jobs", files={"file": ("good.csv", molecules_csv(5))}, headers={"X-API-Key": key})
    job = wait_for_job(client, key, submitted.json()["id"])
    assert job["status"] == "completed"
    result_before = client.get(job["result"], headers={"X-API-Key": key}).content
    before = stored_state(client)

    statuses: Counter[int] = Counter()
    generator = malformed_requests(random.Random(20261123), key, job["id"])
    for number in range(N_REQUESTS):
        method, path, options = next(generator)
        options = {k: v for k, v in options.items() if v is not None}
        answer = (
            getattr(client, method)(path, **options)
            if method != "delete"
            else client.delete(path, headers=options["headers"])
        )
        statuses[answer.status_code] += 1
        assert 400 <= answer.status_code < 500, (number, method, path, options.get("json"), answer.text[:300])
        detail = answer.json().get("detail")
        assert isinstance(detail, str) and len(detail) > 5, (number, path, answer.text[:300])

    assert sum(statuses.values()) == N_REQUESTS
    assert {401, 404, 405, 413, 415, 422} <= set(statuses) or {401, 404, 405, 413, 422} <= set(statuses)
    assert stored_state(client) == before
    assert client.get(job["result"], headers={"X-API-Key": key}).content == result_before
