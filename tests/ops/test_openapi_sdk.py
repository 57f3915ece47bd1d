"""`portico openapi` (from the registry and the observed API) and `portico sdk` (GetSdk)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from portico.errors import ProductError
from portico.ops.openapi import document, generate_sdk, sdk_parameters
from portico.reconcile import ALL
from portico.registry import Registry
from portico.settings import Settings
from tests.conftest import spec_item


def test_openapi_documents_every_route_with_its_security(clients, stack, reconciler, cli):
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders", auth="API_KEY", throttleRate=25))
    reg.put_spec(spec_item("users", auth="IAM", methods=["GET", "POST"]))
    reg.put_spec(spec_item("catalog", path="/shop/catalog", auth="NONE", methods=["GET"]))
    reconciler.run(ALL)

    # qa's deployment predates the routes (nothing was promoted): it serves none of them
    code, out, err = cli("openapi", "--stage", "qa")
    assert code == 0, err
    assert json.loads(out)["paths"] == {}
    code, out, err = cli("openapi", "--stage", "dev")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": f"https://{stack.rest_api_id}.execute-api.us-east-1.amazonaws.com/dev"}]
    assert sorted(doc["paths"]) == ["/orders", "/orders/{proxy}", "/shop/catalog", "/shop/catalog/{proxy}",
                                    "/users", "/users/{proxy}"]
    assert sorted(doc["paths"]["/orders"]) == ["delete", "get", "head", "options", "patch", "post", "put"]  # ANY
    assert doc["paths"]["/orders"]["get"]["security"] == [{"api_key": []}]
    assert doc["paths"]["/orders"]["get"]["x-portico"] == {"throttleRate": 25.0}
    assert sorted(doc["paths"]["/users/{proxy}"]) == ["get", "post"]
    assert doc["paths"]["/users/{proxy}"]["post"]["security"] == [{"sigv4": []}]
    assert doc["paths"]["/users/{proxy}"]["post"]["parameters"][0]["name"] == "proxy"
    assert doc["paths"]["/shop/catalog"]["get"]["security"] == []
    assert set(doc["components"]["securitySchemes"]) == {"api_key", "sigv4"}
    assert doc["components"]["securitySchemes"]["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_openapi_refuses_an_unknown_stage(clients, stack):
    with pytest.raises(ProductError, match=r"--stage: stage 'live' is not one of this stack's stages \(dev, qa, pr"):
        document(clients, stack, "live")


def bare_apigateway():
    """A client that never reaches moto: the Stubber answers (moto has no GetSdk)."""
    import boto3

    return boto3.client("apigateway", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


SETTINGS = Settings(rest_api_id="api123", stages=("dev", "qa", "prod"), stack="portico")


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


@pytest.mark.parametrize("lang", ["javascript", "java", "ruby"])
def test_sdk_calls_get_sdk_and_unpacks_it(tmp_path, lang):
    apigw, stack = bare_apigateway(), SETTINGS
    # Stubber: moto has no GetSdk (no SDK generator); this checks the request portico sends and what it writes.
    data = _zip({"apiGateway-js-sdk/apigClient.js": "// generated", "apiGateway-js-sdk/README.md": "readme"})
    with Stubber(apigw) as stub:
        stub.add_response("get_sdk", {"contentType": "application/zip", "body": StreamingBody(io.BytesIO(data),
                                                                                               len(data))},
                          {"restApiId": stack.rest_api_id, "stageName": "prod", "sdkType": lang,
                           "parameters": sdk_parameters(lang, stack.stack)})
        files = generate_sdk(apigw, stack, "prod", lang, tmp_path / "out")
        stub.assert_no_pending_responses()
    assert files[0] == tmp_path / "out" / f"portico-prod-{lang}-sdk.zip"
    assert (tmp_path / "out" / "apiGateway-js-sdk" / "apigClient.js").read_text() == "// generated"
    if lang == "java":
        assert set(sdk_parameters(lang, "portico")) == {"serviceName", "javaGroupId", "javaArtifactId",
                                                        "javaArtifactVersion", "javaPackageName"}


def test_sdk_refuses_an_archive_that_escapes_the_folder(tmp_path):
    data = _zip({"../evil.sh": "rm -rf /"})
    apigw = bare_apigateway()
    with Stubber(apigw) as stub:  # moto has no GetSdk
        stub.add_response("get_sdk", {"body": StreamingBody(io.BytesIO(data), len(data))})
        with pytest.raises(ProductError, match="outside the output folder"):
            generate_sdk(apigw, SETTINGS, "dev", "javascript", tmp_path / "out")
    assert not (tmp_path / "evil.sh").exists()


def test_sdk_bad_language_is_a_specific_error(cli):
    code, _, err = cli("sdk", "--stage", "dev", "--lang", "cobol", "-o", "x")
    message = " ".join(err.split())
    assert code == 4 and "--lang: 'cobol' is not an SDK type API Gateway generates (javascript, java" in message


def test_sdk_on_the_local_stack_writes_the_openapi_document(cli, tmp_path):
    code, out, err = cli("sdk", "--stage", "dev", "--lang", "javascript", "-o", str(tmp_path / "sdk"))
    assert code == 0, err
    assert "does not generate SDKs" in " ".join(err.split())
    doc = json.loads((tmp_path / "sdk" / "portico-dev-openapi.json").read_text())
    assert doc["openapi"].startswith("3.")
    code, out, _ = cli("sdk", "--stage", "dev", "--lang", "ruby", "-o", str(tmp_path / "rb"), "--json")
    assert code == 0 and json.loads(out) == {"stage": "dev", "lang": "ruby", "output": str(tmp_path / "rb"),
                                             "files": [str(tmp_path / "rb" / "portico-dev-openapi.json")],
                                             "openapiInstead": True}
    code, out, _ = cli("openapi", "--stage", "dev", "-o", str(tmp_path / "api.json"), "--json")
    assert code == 0 and json.loads(out) == {"stage": "dev", "output": str(tmp_path / "api.json")}
    assert json.loads((tmp_path / "api.json").read_text())["openapi"].startswith("3.")


def test_openapi_keeps_only_what_the_stage_deployment_serves():
    from portico.ops.openapi import served

    summary = {"/orders": {"GET": {}}, "/orders/{proxy+}": {"GET": {}, "POST": {}}}
    assert served("/orders", "GET", summary) and served("/orders/{proxy+}", "POST", summary)
    assert not served("/orders", "POST", summary) and not served("/users", "ANY", summary)
    assert served("/users", "ANY", None)  # no summary reported (the local emulator): what is routed now
