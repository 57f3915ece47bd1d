"""The stand-in task: a real HTTP process that answers with its service name and what it received.

`python -m portico_cli.local_aws.dataplane.standin --service orders --port 8080` (the local ECS agent starts
one per task of a service whose container names no local command). Every path answers 200 with JSON:
service, method, path, query, the request line exactly as it arrived (`requestLine`: `GET /items/7?x=1 HTTP/1.1`),
the selected headers (those API Gateway adds or forwards, and any `x-*`), body.
"""

from __future__ import annotations

import argparse
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SHOWN = ("host", "user-agent", "content-type", "authorization", "x-forwarded-for", "x-forwarded-proto",
         "x-forwarded-port", "x-amzn-trace-id")


def app(service: str, task: str = "") -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k in SHOWN or k.startswith("x-")}
        query = request.scope.get("query_string") or b""
        target = request.scope.get("raw_path", b"") + (b"?" + query if query else b"")
        line = f"{request.method} {target.decode(errors='replace')} HTTP/{request.scope.get('http_version', '1.1')}"
        return JSONResponse({"service": service, "task": task, "method": request.method,
                             "path": request.url.path, "query": request.url.query, "requestLine": line,
                             "headers": headers,
                             "body": body.decode(errors="replace")})

    verbs = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", echo, methods=verbs)])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--service", required=True)
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    p.add_argument("--task", default=os.environ.get("PORTICO_TASK_ID", ""))
    a = p.parse_args(argv)
    uvicorn.run(app(a.service, a.task), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
