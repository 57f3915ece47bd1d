"""The emulator's cost of portico's two heaviest DynamoDB writes, per call: `python -m scripts.ddb_cpu [RUNS]`.

The emulator as the tests start it (its patches installed, moto's ThreadedMotoServer on 127.0.0.1, port 0, in
this process), one table, then RUNS times (default 3):
- status: 1,000 conditional UpdateItem calls made by portico's own `Registry.write_status` (16 spec-attribute
  conditions, the pass-order condition, ~10 SETs and REMOVEs), one per service, one client thread;
- reserve: 20 TransactWriteItems of 100 items made by `reservations.reserve_many` (25 reservations each: two
  conditional Puts, an Update of the ledger, a ConditionCheck).
Prints, per kind, the median over the runs of the client's ms per call, of the server's (time inside
moto's DynamoHandler.call_action, which holds the emulator's one DynamoDB lock) and of the CPU time of the
server's thread meanwhile (less sensitive to the machine's load), and the machine load.
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import sys
import time

import requests
from moto.server import ThreadedMotoServer

from portico.registry import READY, Registry, Status
from portico.state.reservations import Reservation, reserve_many
from portico.state.table import Table
from portico_cli.local_aws import account as local

SERVICES, TRANSACTIONS, PER_TRANSACTION = 1000, 20, 25  # 25 reservations = 100 transaction items
_server_seconds = [0.0, 0.0]  # wall, CPU (of the request's thread) inside the emulator


def _timed(call_action):
    def wrapper(self):
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return call_action(self)
        finally:
            _server_seconds[0] += time.perf_counter() - start
            _server_seconds[1] += time.thread_time() - cpu

    return wrapper


def start() -> str:
    from moto.dynamodb.responses import DynamoHandler

    from portico_cli.local_aws.emulator import install

    install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    DynamoHandler.call_action = _timed(DynamoHandler.call_action)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def client(endpoint: str, table: str, key: str):
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    ddb = local.session(endpoint).client("dynamodb", endpoint_url=endpoint)
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    return ddb


def status_writes(endpoint: str, run: int) -> tuple[float, float, float]:
    """(client, server, server CPU) seconds of SERVICES status writes onto freshly written specs."""
    ddb = client(endpoint, "registry", "service")
    registry = Registry(ddb, "registry")
    for i in range(SERVICES):
        registry.put_spec({"service": f"svc{i:04d}", "cluster": "c", "ecsService": f"e{i}", "containerName": "app",
                           "containerPort": 8080, "path": f"/s{i}", "methods": ["GET"], "auth": "NONE",
                           "healthCheckPath": "/health"})
    items = registry.scan()
    _server_seconds[:], start = [0.0, 0.0], time.perf_counter()
    for n, item in enumerate(items.values()):
        status = Status(READY, f"run {run}", listener_port=10000 + n, invoke_url=f"https://x/s{n}",
                        target_group_arn=f"arn:tg/{n}", spec_hash="h")
        assert registry.write_status(item, status, started=time.time())
    return time.perf_counter() - start, *_server_seconds


def reservations(endpoint: str) -> tuple[float, float, float]:
    """(client, server, server CPU) seconds of TRANSACTIONS reservation transactions."""
    table = Table(client(endpoint, "state", "pk"), "state")
    _server_seconds[:], start = [0.0, 0.0], time.perf_counter()
    for t in range(TRANSACTIONS):
        batch = [Reservation(service=f"svc{t}-{i}", load_balancer="nlb-1", slot=10000 + t * 100 + i,
                             path=f"/p{t}-{i}", target_groups={"nlb-1": f"tg-{t}-{i}"}, ecs=f"c/e{t}-{i}",
                             nonce="n") for i in range(PER_TRANSACTION)]
        assert reserve_many(table, batch)
    return time.perf_counter() - start, *_server_seconds


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    endpoint = start()
    status = [status_writes(endpoint, run) for run in range(runs)]
    reserve = [reservations(endpoint) for _ in range(runs)]
    for name, results, calls in (("status UpdateItem", status, SERVICES), ("reserve TransactWriteItems", reserve,
                                                                          TRANSACTIONS)):
        client, server, cpu = (statistics.median(r[i] for r in results) * 1000 / calls for i in range(3))
        print(f"{name}: {client:.2f} ms per call (client), {server:.2f} ms in the emulator, {cpu:.2f} ms of its "
              f"CPU (median of {runs} runs of {calls})")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
