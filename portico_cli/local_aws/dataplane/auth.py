"""Method authorization the local gateway checks: AWS_IAM (SigV4) and COGNITO_USER_POOLS (a user-pool JWT).

Answers as API Gateway does (https://repost.aws/knowledge-center/api-gateway-troubleshoot-403-forbidden):
no Authorization header on an AWS_IAM method → 403 "Missing Authentication Token"; an unknown access key →
403 "The security token included in the request is invalid."; a wrong signature → 403 "The request signature
we calculated does not match the signature you provided..."; a Cognito method without a valid token → 401
"Unauthorized". SigV4 is recomputed with botocore's signer for the credentials the local stack hands out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGV4 = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
                   r"/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?Signature=(?P<sig>[0-9a-f]{64})$")
# API Gateway refuses a signature more than 5 minutes old or ahead, saying so with both times, as recorded on
# AWS: 403 {"message": "Signature expired: 20201027T123008Z is now earlier than 20201027T125507Z (20201027T130007Z
# - 5 min.)"} (https://github.com/mhart/aws4/issues/118, an IAM-authorized API Gateway method;
# https://github.com/aws-amplify/aws-sdk-android/issues/253, an API Gateway client) and "Signature not yet current:
# 20230804T000000Z is still later than 20230803T172233Z (20230803T171733Z + 5 min.)"
# (https://github.com/NickWaterton/Roomba980-Python/issues/118). Other AWS services allow 15 minutes.
MAX_SKEW_SECONDS = 300


@dataclass
class Denied:
    status: int
    error_type: str
    message: str


def check_sigv4(method: str, url: str, headers: dict[str, str], body: bytes, secrets: dict[str, str]) -> Denied | None:
    header = headers.get("authorization")
    if not header:
        return Denied(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    m = SIGV4.match(header)
    if not m:
        return Denied(403, "IncompleteSignatureException",
                      "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256)")
    if m["key"] not in secrets:
        return Denied(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return Denied(403, "IncompleteSignatureException", "Authorization requires the X-Amz-Date header")
    now, stamp = datetime.now(UTC), "%Y%m%dT%H%M%SZ"
    window = timedelta(seconds=MAX_SKEW_SECONDS)
    if signed_at < now - window:
        return Denied(403, "InvalidSignatureException", f"Signature expired: {amz_date} is now earlier than "
                      f"{(now - window).strftime(stamp)} ({now.strftime(stamp)} - 5 min.)")
    if signed_at > now + window:
        return Denied(403, "InvalidSignatureException", f"Signature not yet current: {amz_date} is still later "
                      f"than {(now + window).strftime(stamp)} ({now.strftime(stamp)} + 5 min.)")
    names = m["signed"].split(";")
    request = AWSRequest(method=method, url=url, data=body, headers={n: headers.get(n, "") for n in names})
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(m["key"], secrets[m["key"]]), m["service"], m["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if expected != m["sig"]:
        return Denied(403, "InvalidSignatureException",
                      "The request signature we calculated does not match the signature you provided. Check your "
                      "AWS Secret Access Key and signing method. Consult the service documentation for details.")
    return None


def check_cognito(token: str | None, pool_ids: list[str], jwks: dict[str, dict], scopes: list[str]) -> Denied | None:
    """`jwks`: user pool id -> its JWKS document. Without method scopes the ID token is taken; with scopes, an
    access token carrying one of them (as API Gateway's Cognito authorizer does)."""
    unauthorized = Denied(401, "UnauthorizedException", "Unauthorized")
    if not token:
        return unauthorized
    token = token.removeprefix("Bearer ").strip()
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        pool = str(claims.get("iss", "")).rsplit("/", 1)[-1]
        if pool not in pool_ids or pool not in jwks:
            return unauthorized
        key = jwt.PyJWKSet.from_dict(jwks[pool])[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=claims["iss"],
                            options={"verify_aud": False, "require": ["exp", "iss"]})
    except jwt.ExpiredSignatureError:
        return Denied(401, "UnauthorizedException", "The incoming token has expired")
    except (jwt.PyJWTError, KeyError):
        return unauthorized
    if scopes:
        granted = set(str(claims.get("scope", "")).split())
        if claims.get("token_use") != "access" or not granted & set(scopes):
            return unauthorized
    elif claims.get("token_use") != "id":
        return unauthorized
    return None
