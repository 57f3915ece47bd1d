"""Which backend a request goes to, found once per host name instead of on every request.

moto's server picks a request's backend by its host name (`DomainDispatcherApplication.get_backend_for_host`):
it lists moto's package folder (one `isdir` for each of its ~200 service folders) and then tries every service's
URL patterns in turn, ~1.2 ms of Python per request, all of it under the one lock that `get_application` holds for
every request of every service. With calls in parallel (a pass's ELBv2, ECS and DynamoDB calls side by side) that
lock lines every request of every service up behind that scan. The answer depends on the host name only (the
folders and the patterns are fixed for the process), so it is kept per host name: the first request of each
service pays for the scan, the next ones do not.
"""

from __future__ import annotations

import functools

from . import wrap

HOSTS = 1024  # distinct host names remembered (a few per service in use; the data plane's API ids add some)


def _memo(get_backend_for_host):
    @functools.wraps(get_backend_for_host)
    def get_backend(self, host):
        return _backend(self, host)

    @functools.lru_cache(maxsize=HOSTS)
    def _backend(self, host):  # self: the server's one dispatcher; the answer depends only on the host name
        return get_backend_for_host(self, host)

    get_backend.cache = _backend
    return get_backend


def install() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    wrap(DomainDispatcherApplication, "get_backend_for_host", _memo)
