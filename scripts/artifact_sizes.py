#!/usr/bin/env python3
"""Size of what `sam build` produced: each function and the layer, unzipped (what counts against Lambda's
250 MB limit for a function plus its layers) and zipped (what is uploaded), and, with --import-times,
the cold import time of each handler (a fresh interpreter importing app.py with the layer on its path).

    python scripts/artifact_sizes.py [--build-dir .aws-sam/build] [--json] [--import-times]

`make artifact-sizes` builds first, then runs this.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + all its layers

# Dummy settings so that importing a handler never depends on the caller's environment.
DUMMY_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "PORTICO_REGISTRY_TABLE": "registry", "PORTICO_STATE_TABLE": "state", "PORTICO_REST_API_ID": "abc123",
    "PORTICO_STAGE": "dev", "PORTICO_STAGES": "dev",
    "PORTICO_LOAD_BALANCER_ARNS": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/p/1",
    "PORTICO_VPC_LINK_IDS": "vl1", "PORTICO_VPC_ID": "vpc-0123456789abcdef0", "PORTICO_STACK": "portico",
    "POWERTOOLS_SERVICE_NAME": "portico", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "ERROR",
}


def tree_size(path: Path) -> tuple[int, int, int]:
    """(unzipped bytes, files, zipped bytes) of a directory."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.relative_to(path))
    return sum(f.stat().st_size for f in files), len(files), len(buf.getvalue())


def import_seconds(function_dir: Path, layer_python: Path, python: str, runs: int) -> float:
    code = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"
    env = {**os.environ, **DUMMY_ENV, "PYTHONPATH": os.pathsep.join([str(function_dir), str(layer_python)]),
           "PYTHONDONTWRITEBYTECODE": "1"}
    best = float("inf")
    for _ in range(runs):
        out = subprocess.run([python, "-c", code], cwd=function_dir, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"importing {function_dir}/app.py failed:\n{out.stderr}")
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=".aws-sam/build", type=Path)
    ap.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    ap.add_argument("--import-times", action="store_true", help="also time a cold import of each handler")
    ap.add_argument("--python", default=sys.executable, help="interpreter for --import-times (needs boto3)")
    ap.add_argument("--runs", type=int, default=5, help="imports per handler; the fastest is reported")
    args = ap.parse_args(argv)

    build = args.build_dir
    if not (build / "template.yaml").is_file():
        print(f"{build}: no sam build output (run `make sam-build`)", file=sys.stderr)
        return 2
    layer_python = build / "PorticoLayer" / "python"
    rows = []
    for artifact in sorted(p for p in build.iterdir() if p.is_dir()):
        unzipped, files, zipped = tree_size(artifact)
        row = {"artifact": artifact.name, "kind": "layer" if (artifact / "python").is_dir() else "function",
               "unzipped_bytes": unzipped, "zipped_bytes": zipped, "files": files}
        if args.import_times and (artifact / "app.py").is_file():
            row["cold_import_seconds"] = round(import_seconds(artifact, layer_python, args.python, args.runs), 4)
        rows.append(row)

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    layer_bytes = sum(r["unzipped_bytes"] for r in rows if r["kind"] == "layer")
    header = f"{'artifact':<30} {'kind':<9} {'unzipped':>10} {'zipped':>10} {'files':>6}"
    if args.import_times:
        header += f" {'cold import':>12}"
    print(header)
    for r in rows:
        line = (f"{r['artifact']:<30} {r['kind']:<9} {human(r['unzipped_bytes']):>10} "
                f"{human(r['zipped_bytes']):>10} {r['files']:>6}")
        if "cold_import_seconds" in r:
            line += f" {r['cold_import_seconds'] * 1000:>9.0f} ms"
        print(line)
    biggest = max((r["unzipped_bytes"] for r in rows if r["kind"] == "function"), default=0)
    print(f"largest function + layer, unzipped: {human(biggest + layer_bytes)} "
          f"of Lambda's {human(LAMBDA_UNZIPPED_LIMIT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
