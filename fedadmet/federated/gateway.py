"""The SuperLink's public face: a TLS gateway that lets SuperNodes through to the Fleet API and nothing else.

Flower 1.41 serves its Fleet API (what SuperNodes call) and its Control API (`flwr supernode register`,
`flwr run`, `flwr ls`) on one HTTP port, and the open-source SuperLink authenticates no Control API caller
(account login needs Flower's enterprise OIDC plugin). Whoever reached that port with the consortium's CA
certificate could register a SuperNode of their own and submit an app whose client code then ran at every
partner, reading its files. So the SuperLink listens on 127.0.0.1 only (its HTTP API and its legacy gRPC
ports), where the operator drives it, and partners reach it through this gateway, which forwards the Fleet
API's paths and answers every other one with 403. SuperNode authentication (keys the operator registered)
still decides which nodes the Fleet API accepts.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

FLEET_PATHS = ("/v1/fleet/",)  # what a SuperNode calls; /v1/control and /v1/runtime stay with the operator
# Connection-level headers are the gateway's own, on each side.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}


def forwards(path: str) -> bool:
    """Whether the gateway passes a request for ``path`` on to the SuperLink."""
    return path.startswith(FLEET_PATHS) and ".." not in path


def gateway_app(superlink: str, ca_certificate: Path) -> Starlette:
    """The gateway's web app: Fleet API requests go on to ``superlink`` (host:port on this machine, its
    certificate checked against the consortium CA); anything else gets 403."""
    verify = ssl.create_default_context(cafile=str(ca_certificate))
    client = httpx.AsyncClient(base_url=f"https://{superlink}", verify=verify, timeout=None)

    async def forward(request: Request) -> Response:
        if not forwards(request.url.path):
            return PlainTextResponse("only the Fleet API (SuperNodes) is served here", status_code=403)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        sent = client.build_request(
            request.method, request.url.path, params=request.query_params, headers=headers, content=await request.body()
        )
        try:
            answer = await client.send(sent, stream=True)
        except httpx.TransportError as exc:  # SuperNodes retry; the reason goes to them, not a traceback
            return PlainTextResponse(f"the SuperLink is not reachable: {type(exc).__name__}", status_code=502)
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP},
            background=BackgroundTask(answer.aclose),
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)


def serve_gateway(superlink: str, host: str, port: int, certificate: Path, key: Path, ca_certificate: Path) -> None:
    """Serve the gateway with TLS (the SuperLink's own certificate and key) on ``host``:``port`` until stopped."""
    import uvicorn

    uvicorn.run(
        gateway_app(superlink, ca_certificate),
        host=host,
        port=port,
        ssl_certfile=str(certificate),
        ssl_keyfile=str(key),
        log_level="warning",
    )
