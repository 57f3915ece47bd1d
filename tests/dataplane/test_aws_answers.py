"""The local gateway answers as API Gateway does, compared with what AWS answered when recorded: LocalStack's
tests/aws/services/apigateway/*.snapshot.json (recorded against AWS; cited beside each case) and AWS's
documented messages. The backend is a task of our own (image `local`) that echoes every header it received
and answers with a Date, a Server and headers API Gateway renames."""

from __future__ import annotations

import http.client
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from portico_cli.local_aws import account as local

from .conftest import spec_item, start_plane

ECHO = r"""
import http.server, json, os
class Echo(http.server.BaseHTTPRequestHandler):
    server_version, sys_version = "echo/1.0", ""
    def do_GET(self):
        body = json.dumps({"target": self.path, "headers": [[k.lower(), v] for k, v in self.headers.items()]})
        self.send_response(200)  # sends the backend's own Server and Date
        for name, value in (("Content-Type", "application/json"), ("WWW-Authenticate", "Basic realm=echo"),
                            ("Content-MD5", "backend-md5"), ("x-amzn-RequestId", "backend-request"),
                            ("X-Custom", "kept"), ("Content-Length", str(len(body)))):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body.encode())
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Echo).serve_forever()
"""


@pytest.fixture(scope="module")
def echo(local_stack):
    c, subnets = local_stack.clients, local_stack.settings.extra["subnets"].split(",")
    c.ecs.register_task_definition(family="echo", networkMode="awsvpc", cpu="256", memory="512",
                                   requiresCompatibilities=["FARGATE"], containerDefinitions=[{
        "name": "app", "image": "local", "essential": True, "portMappings": [{"containerPort": 8080}],
        "command": [sys.executable, "-c", ECHO]}])
    c.ecs.create_service(cluster="demo", serviceName="echo", taskDefinition="echo", desiredCount=1,
                         launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                             "subnets": subnets, "securityGroups": [local_stack.settings.extra["securityGroup"]]}})
    local_stack.onboard(spec_item("echo"), spec_item("signed", ecsService="echo", path="/signed", auth="IAM"))
    start_plane(local_stack)
    assert local_stack.wait_for("/echo/x").status_code == 200
    return local_stack


def received(answer) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in answer.json()["headers"]:
        out.setdefault(name, []).append(value)
    return out


def test_the_backend_gets_the_api_id_and_not_the_headers_api_gateway_drops(echo):
    # TestApiGatewayHeaderRemapping::test_apigateway_header_remapping_http[HTTP_PROXY] (recorded 2024-12-11):
    # the client's Content-MD5, Expect, Max-Forwards, Server, Via and WWW-Authenticate never reach the backend,
    # which gets X-Amzn-Apigateway-Api-Id; Age, Pragma, Range, Referer, Warn, Authorization pass.
    sent = {"Content-MD5": "request-md5", "Max-Forwards": "2", "Server": "https://example.com/", "Via": "p.example",
            "WWW-Authenticate": "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Age": "request_Age", "Pragma": "cache",
            "Range": "bytes=500-999", "Referer": "https://example.com/", "Warn": "299 client/0.0"}
    got = received(echo.http.get(echo.url("/echo/x"), headers=sent))
    for dropped in ("content-md5", "max-forwards", "server", "via", "www-authenticate"):
        assert dropped not in got, dropped
    for kept in ("age", "pragma", "range", "referer", "warn"):
        assert got[kept] == [sent[kept.title()]], kept
    assert got["x-amzn-apigateway-api-id"] == [echo.settings.rest_api_id]


def test_the_backends_date_server_and_reserved_headers_come_back_remapped(echo):
    # Same recording: the backend's Date, Server, Content-Length, Connection reach the client as
    # x-amzn-Remapped-*, beside API Gateway's own Date; the HTTP case remaps WWW-Authenticate and Content-MD5;
    # test_apigateway_http.snapshot.json (HTTP_PROXY) remaps the backend's x-amzn-RequestId.
    answer = echo.http.get(echo.url("/echo/x"))
    h = answer.headers
    assert h.get_list("date") and len(h.get_list("date")) == 1  # one Date: API Gateway's
    assert h["x-amzn-remapped-date"] and h["x-amzn-remapped-server"] == "echo/1.0"
    assert "server" not in h and "www-authenticate" not in h and "content-md5" not in h
    assert h["x-amzn-remapped-www-authenticate"] == "Basic realm=echo"
    assert h["x-amzn-remapped-content-md5"] == "backend-md5"
    assert h["x-amzn-remapped-x-amzn-requestid"] == "backend-request" and h["x-amzn-requestid"] != "backend-request"
    assert h["x-custom"] == "kept" and h["content-type"] == "application/json"


def test_a_proxy_value_reaches_the_backend_byte_for_byte(echo):
    # test_apigateway_lambda.snapshot.json: `/proxy-value//double-slash` gives {proxy+} = "proxy-value//double-slash"
    # (the empty segment kept). Percent-escapes are sent on as they came.
    assert echo.http.get(echo.url("/echo/a//b")).json()["target"] == "/a//b"
    assert echo.http.get(echo.url("/echo/x%2Fy/%41")).json()["target"] == "/x%2Fy/%41"


def test_a_gateway_error_has_api_gateways_headers_and_no_trace_id(echo):
    # TestApiGatewayHeaderRemapping, the integration errors: Content-Type application/json, x-amzn-ErrorType,
    # x-amzn-RequestId, x-amz-apigw-id, Date; no X-Amzn-Trace-Id (an answer of the backend has one).
    missing = echo.http.get(echo.url("/nowhere"))
    assert missing.status_code == 403 and missing.json() == {"message": "Missing Authentication Token"}
    h = missing.headers
    assert h["content-type"] == "application/json" and h["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert h["x-amzn-requestid"] and h["x-amz-apigw-id"] and h["date"] and "x-amzn-trace-id" not in h
    assert echo.http.get(echo.url("/echo/x")).headers["x-amzn-trace-id"].startswith("Root=1-")


def _signed(url: str, at: datetime) -> dict[str, str]:
    """SigV4 headers for a GET of `url` signed at `at` (botocore's add_auth would sign at the current time)."""
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    request = AWSRequest(method="GET", url=url, data=b"", headers={"X-Amz-Date": stamp})
    request.context["timestamp"] = stamp
    key = local.CREDENTIALS["AWS_ACCESS_KEY_ID"]
    signer = SigV4Auth(Credentials(key, "testing"), "execute-api", local.REGION)
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    return {"X-Amz-Date": stamp, "Authorization": f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
                                                  f"SignedHeaders={signed}, Signature={signature}"}


def test_a_signature_older_or_newer_than_5_minutes_is_refused_as_aws_says(echo):
    url = echo.url("/signed/x")
    deadline = time.monotonic() + 20
    while (fresh := echo.http.get(url, headers=_signed(url, datetime.now(UTC)))).status_code == 504 and \
            time.monotonic() < deadline:
        time.sleep(0.25)
    assert fresh.status_code == 200, fresh.text
    old = echo.http.get(url, headers=_signed(url, datetime.now(UTC) - timedelta(minutes=8)))
    assert (old.status_code, old.headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    message = old.json()["message"]  # "Signature expired: X is now earlier than Y (Z - 5 min.)", AWS's words
    assert message.startswith("Signature expired: ") and " is now earlier than " in message
    assert message.endswith(" - 5 min.)")
    ahead = echo.http.get(url, headers=_signed(url, datetime.now(UTC) + timedelta(minutes=8)))
    assert ahead.status_code == 403 and ahead.json()["message"].startswith("Signature not yet current: ")
    assert ahead.json()["message"].endswith(" + 5 min.)")


def test_a_url_past_the_regional_quota_is_refused_in_api_gateways_json_shape(echo):
    # "Length, in characters, of the URL for a regional API: 10240" (Quotas for configuring and running a REST
    # API); at the limit the request routes, one character past it is refused, and 100,000 never reaches httpx.
    # http.client, not httpx: httpx itself refuses a URL of 65,536 characters and more.
    base = urlsplit(echo.url("/echo/"))

    def get(length: int):
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
        conn.request("GET", base.path + "a" * (length - len(base.path)))
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()

    status, _, body = get(10240)
    assert status == 200 and json.loads(body)["target"].endswith("a")
    for length in (10241, 65_000, 100_000):
        status, headers, body = get(length)
        assert status == 414, length
        assert json.loads(body) == {"message": "Request URI too long"}
        assert headers["x-amzn-errortype"] == "RequestUriTooLongException"


def test_an_unexpected_failure_is_api_gateways_json_500(echo, monkeypatch):
    gateway = echo.plane.gateway

    async def broken(request, trace):
        raise RuntimeError("a bug in the local gateway")

    monkeypatch.setattr(gateway, "handle", broken)
    answer = echo.http.get(echo.url("/echo/x"))
    assert answer.status_code == 500 and answer.json() == {"message": "Internal server error"}
    assert answer.headers["x-amzn-errortype"] == "InternalServerErrorException"
