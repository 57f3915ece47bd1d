"""A saved state of the whole local AWS, restored at will: a stack deployed once stands for every test after it.

`POST /moto-api/portico/snapshot?name=N` keeps a deep copy of every loaded moto backend (all accounts and
Regions) under the name N; `POST /moto-api/portico/restore?name=N` puts a fresh copy of it in their place, as
`/moto-api/reset` empties them.
Neither is an AWS API (moto-api is moto's own channel, as for the data plane's reports): they exist so that
the tests' stack can be template.yaml deployed through CloudFormation (several seconds) once per process, and
each test start from it in a fraction of that (docs/deploy.md, "The tests' stack").

What a plain `copy.deepcopy` of the backends stumbles on is shared, not copied: locks, conditions, events and
threads (CloudFormation's and SQS's models hold locks; a lock has no state a copy could keep), and moto's
BackendDicts themselves, which models reference as module-level registries: a copy must reach the restored
backends through them, not through copies of them. A BackendDict's own attributes are saved and restored
(S3's `bucket_accounts` finds a bucket's account by its name), and S3's objects are disposed of when their
state is dropped (each holds a temporary file, which moto's reset closes the same way).
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

from . import require, route

SNAPSHOT_URL = "/moto-api/portico/snapshot"
RESTORE_URL = "/moto-api/portico/restore"

# name: [(BackendDict, {account: AccountSpecificBackend}, its attributes)], never handed out itself
_saved: dict[str, list] = {}
_copying = threading.Lock()


def _shared_types() -> tuple[type, ...]:
    """deepcopy looks a copier up by the exact type: S3's registry is a subclass of BackendDict of its own."""
    from moto.core.base_backend import BackendDict

    registries, todo = [], [BackendDict]
    while todo:
        registries.append(todo.pop())
        todo.extend(registries[-1].__subclasses__())
    return (type(threading.Lock()), type(threading.RLock()), threading.Condition, threading.Event,
            threading.Semaphore, threading.Thread, *registries)


@contextlib.contextmanager
def _sharing():
    """deepcopy shares what _shared_types names for as long as this runs (one copy at a time)."""
    types = _shared_types()
    with _copying:
        before = {t: copy._deepcopy_dispatch.get(t) for t in types}
        copy._deepcopy_dispatch.update({t: (lambda x, memo: x) for t in types})
        try:
            yield
        finally:
            for t, was in before.items():
                if was is None:
                    copy._deepcopy_dispatch.pop(t, None)
                else:
                    copy._deepcopy_dispatch[t] = was


def snapshot(name: str) -> int:
    """Save the state of every loaded backend as `name`; the number of services saved."""
    from moto.core.base_backend import BackendDict, backend_lock

    with backend_lock, _sharing():
        state = copy.deepcopy([(bd, dict(bd), dict(vars(bd))) for bd in BackendDict._instances])
    _dispose(_saved.pop(name, []))
    _saved[name] = state
    return len(state)


def restore(name: str) -> int:
    """Every backend back to the state saved as `name` (a copy of it: the saved one stays for the next)."""
    from moto.core.base_backend import BackendDict, backend_lock
    from moto.core.model_instances import reset_model_data

    if name not in _saved:
        raise LookupError(f"no snapshot {name!r} of the local AWS was taken: POST {SNAPSHOT_URL}?name={name} first")
    with _sharing():
        fresh = copy.deepcopy(_saved[name])
    with backend_lock:
        _dispose([(bd, dict(bd), None) for bd in BackendDict._instances])
        for bd in BackendDict._instances:
            bd.clear()
        BackendDict._instances[:] = [bd for bd, _, _ in fresh]
        for bd, accounts, attributes in fresh:
            bd.update(accounts)
            vars(bd).update(attributes)
    reset_model_data()  # moto's registry of every model made (for /moto-api/data.json) would only grow
    return len(fresh)


def _dispose(state: list) -> None:
    """Close the temporary file of every S3 object in `state` (as S3's reset does), which is being dropped."""
    for bd, accounts, _ in state:
        for backend in (b for account in accounts.values() for b in account.values() if bd.service_name == "s3"):
            for key in (k for bucket in backend.buckets.values() for k in bucket.keys.values()):
                getattr(key, "dispose", lambda: None)()


@atexit.register
def _forget() -> None:  # before the interpreter tears down the modules an S3 object's __del__ needs
    for state in _saved.values():
        _dispose(state)
    _saved.clear()


def _respond(action):
    def handler(request, full_url, headers):
        if request.method != "POST":
            return 405, {}, json.dumps({"message": f"POST to {full_url}"})
        name = parse_qs(urlsplit(full_url).query).get("name", [""])[0]
        if not name:
            return 400, {}, json.dumps({"message": "name: a snapshot's name is required (?name=...)"})
        started = time.monotonic()
        try:
            services = action(name)
        except LookupError as exc:
            return 409, {}, json.dumps({"message": str(exc)})
        return 200, {}, json.dumps({"services": services, "seconds": round(time.monotonic() - started, 3)})

    return handler


def install() -> None:
    from moto.core import base_backend, model_instances
    from moto.moto_api._internal import urls

    # What a snapshot reads of moto's and the copy module's internals, checked at start as every patch is.
    for owner, name in ((base_backend.BackendDict, "_instances"), (base_backend, "backend_lock"),
                        (model_instances, "reset_model_data"), (copy, "_deepcopy_dispatch")):
        require(owner, name)
    route(urls.url_paths, "{0}" + SNAPSHOT_URL + "$", _respond(snapshot), new=True)
    route(urls.url_paths, "{0}" + RESTORE_URL + "$", _respond(restore), new=True)
