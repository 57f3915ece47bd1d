"""Run one Lambda handler the way Lambda does, from `sam build` output, with the CLI libraries unimportable.

    python -S layer_probe.py LAYER_PYTHON FUNCTION_DIR EVENT_JSON SITE_PACKAGES

`-S`: no site processing, so the project's editable install (a .pth hook) cannot lend its source to the
`portico` namespace package; SITE_PACKAGES is appended as a plain path for boto3, as the runtime has it.

Prints one JSON line: the handler's result, the file of every `portico` module it loaded, and any blocked
name that something tried to import (there must be none).
"""

from __future__ import annotations

import importlib.abc
import json
import sys
import time
import uuid
from types import SimpleNamespace

BLOCKED = ("typer", "rich", "dotenv", "moto", "portico_cli")
tried: list[str] = []


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            tried.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: not in the Lambda layer)", name=name)
        return None


def main() -> None:
    layer, function_dir, event_file, site_packages = sys.argv[1:5]
    sys.meta_path.insert(0, Blocker())
    sys.path[:0] = [function_dir, layer]  # Lambda: the function's code, then the layer's python/
    sys.path.append(site_packages)
    deadline = time.monotonic() + 120
    context = SimpleNamespace(function_name="portico-probe", function_version="$LATEST", memory_limit_in_mb=512,
                              aws_request_id=str(uuid.uuid4()),
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:portico-probe",
                              get_remaining_time_in_millis=lambda: int((deadline - time.monotonic()) * 1000))
    # Imported only now, after the blocker and the paths are in place.
    import app

    with open(event_file) as f:
        event = json.load(f)
    result = app.handler(event, context)
    portico = sorted({f for name, m in sys.modules.items() if name.split(".")[0] == "portico"
                      for f in ([m.__file__] if getattr(m, "__file__", None) else list(m.__path__))})
    print(json.dumps({"result": result, "portico": portico, "tried": tried,
                      "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}, default=str))


if __name__ == "__main__":
    main()
