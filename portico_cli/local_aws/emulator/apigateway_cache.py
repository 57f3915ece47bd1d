"""PutIntegration `cacheKeyParameters`: moto drops them, AWS keeps them.

API Gateway's stage cache keys an entry on the resource path plus only the method request parameters an
integration lists in `cacheKeyParameters`
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-caching.html#enable-api-gateway-cache-keys),
so a `{proxy+}` route without `method.request.path.proxy` there answers every path under it from one entry.
moto reports the field but never reads it from the request; here PutIntegration stores it.
"""

from __future__ import annotations

import json

from . import wrap


def _keep_cache_keys(handler):
    def wrapper(self):
        status, headers, _ = handler(self)
        parts = self.path.split("/")
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.cache_key_parameters = list(self._get_param("cacheKeyParameters") or [])
        return status, headers, json.dumps(integration.to_json())

    return wrapper


def install() -> None:
    from moto.apigateway.responses import APIGatewayResponse

    wrap(APIGatewayResponse, "put_integration", _keep_cache_keys)
