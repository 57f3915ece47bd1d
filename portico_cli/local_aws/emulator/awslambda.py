"""Lambda: run a function where moto would need Docker, and leave stream delivery to the poller.

- Invoke (and CloudFormation's custom resource requests, see cloudformation/custom.py): moto runs the function in
  a Docker container, which these machines do not have. Here it runs in a fresh interpreter, as Lambda's
  runtime does: the deployment package and the layers (the ones the function names, in order, each layer's
  `python/` on the path like /opt/python) unpacked from what the emulator holds, the function's own
  environment plus Lambda's reserved variables, a context with the remaining time, `AWS_ENDPOINT_URL`
  pointing back at the emulator. The interpreter is this one (CPython of the project's venv), not the
  function's runtime: a gap, listed in docs/deploy.md.
- DynamoDB stream event source mappings: moto invokes the function synchronously inside the write that made
  the record, and then drops the records from the stream. Lambda polls the stream asynchronously and the
  records stay readable for 24 hours whoever reads them
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html). Here the records stay; the
  local poller (portico_cli/local_aws/streampoll.py) is the mapping.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from . import replace, wrap

# Runs inside the function's interpreter: import the handler, call it, print its result on the last line.
_BOOTSTRAP = """
import importlib, json, os, sys, time, types, uuid
module, name = os.environ["_HANDLER"].rsplit(".", 1)
event = json.load(sys.stdin)
deadline = time.monotonic() + float(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"])
context = types.SimpleNamespace(
    function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"], function_version="$LATEST",
    invoked_function_arn=os.environ["PORTICO_LOCAL_FUNCTION_ARN"],
    memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]), aws_request_id=str(uuid.uuid4()),
    log_group_name=os.environ["AWS_LAMBDA_LOG_GROUP_NAME"], log_stream_name="local",
    get_remaining_time_in_millis=lambda: max(0, int((deadline - time.monotonic()) * 1000)))
try:
    result, code = json.dumps(getattr(importlib.import_module(module), name)(event, context)), 0
except Exception as exc:
    result, code = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}), 1
sys.stdout.write("\\n" + result + "\\n")
sys.exit(code)
"""


def _unpack(data: bytes, into: Path) -> Path:
    """A zip unpacked once per content (the directory is named by its digest)."""
    target = into / hashlib.sha256(data).hexdigest()[:16]
    if not target.is_dir():
        scratch = Path(tempfile.mkdtemp(dir=into))
        zipfile.ZipFile(io.BytesIO(data)).extractall(scratch)
        with contextlib.suppress(OSError):  # another invocation unpacked it first
            scratch.rename(target)
    return target


def run(fn: Any, event: dict[str, Any], endpoint: str) -> tuple[str, bool, str]:
    """Run moto's LambdaFunction `fn` on `event`: (last line of output, errored, the rest of the output)."""
    from moto.awslambda.utils import get_backend

    from ..account import CREDENTIALS

    cache = Path(tempfile.gettempdir()) / "portico-lambda"
    cache.mkdir(exist_ok=True)
    backend = get_backend(fn.account_id, fn.region)
    paths = [str(_unpack(fn.code_bytes, cache))]
    for layer in fn.layers:
        version = backend.layers_versions_by_arn(layer["Arn"])
        paths.append(str(_unpack(version.code_bytes, cache) / "python"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": os.pathsep.join(paths),
        **fn.environment_vars, **CREDENTIALS,
        "_HANDLER": fn.handler, "LAMBDA_TASK_ROOT": paths[0], "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
        "AWS_LAMBDA_FUNCTION_NAME": fn.function_name, "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size), "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.function_name}", "PORTICO_LOCAL_FUNCTION_ARN": fn.function_arn,
        "AWS_REGION": fn.region, "AWS_DEFAULT_REGION": fn.region, "AWS_ENDPOINT_URL": endpoint,
    }
    try:
        proc = subprocess.run([sys.executable, "-c", _BOOTSTRAP], input=json.dumps(event), env=env, cwd=paths[0],
                              capture_output=True, text=True, timeout=float(fn.timeout))
    except subprocess.TimeoutExpired as exc:
        return json.dumps({"errorMessage": f"Task timed out after {fn.timeout} seconds"}), True, str(exc.stderr)
    lines = proc.stdout.rstrip("\n").split("\n")
    return lines[-1], proc.returncode != 0, "\n".join(lines[:-1]) + proc.stderr


def endpoint() -> str:
    """The emulator's own URL, from the request being served (a server on a free port knows no other way)."""
    from flask import has_request_context, request

    if not has_request_context():
        raise RuntimeError("the emulator's endpoint is known only while it serves a request")
    return request.host_url.rstrip("/")


def _invoke_lambda(self, event=None):  # bound as moto's LambdaFunction._invoke_lambda
    return run(self, event if isinstance(event, dict) else json.loads(event or "{}"), endpoint())


def _keep_stream_records(add):
    def wrapper(self, old, new):
        mappings, self.table.lambda_event_source_mappings = self.table.lambda_event_source_mappings, {}
        try:
            return add(self, old, new)
        finally:
            self.table.lambda_event_source_mappings = mappings

    return wrapper


def install() -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.dynamodb.models.table import StreamShard

    replace(LambdaFunction, "_invoke_lambda", _invoke_lambda)
    wrap(StreamShard, "add", _keep_stream_records)
