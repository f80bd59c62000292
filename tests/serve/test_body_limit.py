"""The body-size limit answers before the app reads a byte, and lets everything else through untouched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from fedadmet.config import Settings
from fedadmet.serve.app import BodyLimit

SETTINGS = Settings(api_max_body_bytes=2_000, upload_max_bytes=10_000)


def _call(scope: dict[str, Any]) -> tuple[int | None, str]:
    """Status and detail the middleware sends itself; (None, "") where it passed the request on."""
    sent: list[dict[str, Any]] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:  # the wrapped app: records that it ran
        sent.append({"passed": scope["type"]})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(BodyLimit(app, SETTINGS)(scope, receive, send))
    if sent and "passed" in sent[0]:
        return None, ""
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)["detail"]


def _http(path: str, method: str = "POST", length: str | None = None) -> dict[str, Any]:
    headers = [(b"content-length", length.encode())] if length is not None else []
    return {"type": "http", "path": path, "method": method, "headers": headers}


@pytest.mark.parametrize(
    ("scope", "status", "says"),
    [
        (_http("/v1/predict", length="2000"), None, ""),
        (_http("/v1/predict", length="2001"), 413, "larger than 2 kB"),
        (_http("/v1/jobs", length="50000"), None, ""),  # uploads get their own, larger limit
        (_http("/v1/jobs", length="80000"), 413, "larger than 74 kB"),
        (
            _http("/v1/predict", length="²"),
            413,
            "Content-Length is not a number",
        ),  # a digit to str.isdigit, not to int()
        (_http("/v1/predict", length="-5"), 413, "Content-Length is not a number"),
        (_http("/v1/predict"), 411, "Content-Length header is required"),
        (_http("/v1/models", method="GET"), None, ""),
        ({"type": "lifespan"}, None, ""),
    ],
)
def test_body_limit(scope: dict[str, Any], status: int | None, says: str) -> None:
    got_status, detail = _call(scope)
    assert got_status == status
    assert says in detail
