"""A certificate for custom domain names on the local AWS: self-signed for the names asked, imported into its
ACM. An imported certificate is ISSUED at once (a requested one waits for DNS validation), which is what API
Gateway asks of a regional domain's certificate; the local gateway speaks plain HTTP, so nothing verifies it."""

from __future__ import annotations

import datetime

from .account import REGION, session


def self_signed(*names: str) -> tuple[bytes, bytes]:
    """A certificate (PEM) for `names` (the first is its subject) and its private key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def issued_certificate(endpoint: str, *names: str, region: str = REGION) -> str:
    """The ARN of an ISSUED certificate for `names` in the local ACM of `region`."""
    body, key = self_signed(*names)
    acm = session(endpoint).client("acm", endpoint_url=endpoint, region_name=region)
    return acm.import_certificate(Certificate=body, PrivateKey=key)["CertificateArn"]


def certificate_for(endpoint: str, names: list[str], region: str = REGION) -> str:
    """An ISSUED certificate of the local ACM naming exactly `names` (a later run finds the same one, so a
    stack update keeps its domains' certificate), imported when there is none."""
    acm = session(endpoint).client("acm", endpoint_url=endpoint, region_name=region)
    for summary in acm.list_certificates(CertificateStatuses=["ISSUED"]).get("CertificateSummaryList", []):
        cert = acm.describe_certificate(CertificateArn=summary["CertificateArn"])["Certificate"]
        if sorted(cert.get("SubjectAlternativeNames") or []) == sorted(names):
            return cert["CertificateArn"]
    return issued_certificate(endpoint, *names, region=region)
