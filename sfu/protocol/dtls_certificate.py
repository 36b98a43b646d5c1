"""The DTLS certificate: a self-signed ECDSA P-256 certificate per process, and its
a=fingerprint (RFC 8122) as the SDP carries it."""

from __future__ import annotations

import datetime
import secrets
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .dtls_setup import HASHES

CERTIFICATE_LIFETIME = datetime.timedelta(days=30)



def format_fingerprint(der: bytes, algorithm: str = "sha-256") -> str:
    """a=fingerprint value for a DER certificate: ``"sha-256 AB:CD:..."`` (upper-case hex)."""
    digest = HASHES[algorithm](der).digest()
    return f"{algorithm} " + ":".join(f"{b:02X}" for b in digest)




class Certificate:
    """Self-signed ECDSA P-256 certificate and key for DTLS."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self.key = key
        self.der = cert.public_bytes(serialization.Encoding.DER)

    @classmethod
    def generate(cls, lifetime: datetime.timedelta = CERTIFICATE_LIFETIME) -> Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(8))])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + lifetime)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @property
    def not_after(self) -> datetime.datetime:
        return self.cert.not_valid_after_utc

    def fingerprint(self, algorithm: str = "sha-256") -> str:
        return format_fingerprint(self.der, algorithm)


_default_certificate: Certificate | None = None
_default_lock = threading.Lock()


def default_certificate() -> Certificate:
    """The process-wide certificate (ECDSA key generation is the slow part of a handshake).

    Regenerated when less than a day of validity is left.
    """
    global _default_certificate
    with _default_lock:
        cert = _default_certificate
        now = datetime.datetime.now(datetime.UTC)
        if cert is None or cert.not_after - now < datetime.timedelta(days=1):
            cert = _default_certificate = Certificate.generate()
        return cert
