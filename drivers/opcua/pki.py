"""The box's OPC UA client certificate (``<data_dir>/pki/``).

Sign and SignAndEncrypt need an application instance certificate (OPC 10000-4
§6.1). The box generates one the first time it is needed and keeps it, so a PLC
admin trusts it once. ``client_certificate(data_dir)`` gives its SHA-1 and
SHA-256 thumbprints for the UI and ``werkvloer opcua certificate``: most PLC
engineering tools (TIA Portal, Codesys, Beckhoff) show the SHA-1 thumbprint in
their list of rejected certificates, which is where the admin moves it to
"trusted".

Only the standard library and ``cryptography`` here (no asyncua): the UI can
show the thumbprint without importing the OPC UA stack.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CERT_NAME = "werkvloer-client.der"
KEY_NAME = "werkvloer-client.key.pem"
VALID_DAYS = 3650  # a box is lent for months and may run for years; re-trusting is a site visit
# A Pi has no RTC: if it generates the certificate before NTP has set the
# clock, "now" may be days behind. Backdating keeps the certificate valid.
BACKDATE = dt.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    cert_path: Path
    key_path: Path
    application_uri: str
    sha1: str  # "AB:CD:..." as PLC tools show it
    sha256: str
    not_after: dt.datetime


def pki_dir(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / "pki"


def _fingerprint(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(algorithm))


def _info(cert_path: Path, key_path: Path, cert: x509.Certificate) -> ClientCertificate:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    return ClientCertificate(
        cert_path=cert_path, key_path=key_path,
        application_uri=uris[0] if uris else "",
        sha1=_fingerprint(cert, hashes.SHA1()),  # noqa: S303 - a thumbprint, not a signature
        sha256=_fingerprint(cert, hashes.SHA256()),
        not_after=cert.not_valid_after_utc,
    )


def client_certificate(data_dir: str | os.PathLike[str]) -> ClientCertificate | None:
    """The box's client certificate, or None when none was generated yet."""
    d = pki_dir(data_dir)
    cert_path, key_path = d / CERT_NAME, d / KEY_NAME
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    cert = x509.load_der_x509_certificate(cert_path.read_bytes())
    return _info(cert_path, key_path, cert)


def ensure_client_certificate(data_dir: str | os.PathLike[str]) -> ClientCertificate:
    """Load the client certificate, generating key and certificate when missing.

    An existing certificate is never replaced silently (the PLC trusts its
    thumbprint); an expired one is logged as an error with what to do.
    """
    existing = client_certificate(data_dir)
    if existing is not None:
        if existing.not_after < dt.datetime.now(dt.UTC):
            log.error("OPC UA client certificate %s expired on %s; delete %s and restart to generate a new one, "
                      "then trust the new thumbprint on the PLC", existing.cert_path, existing.not_after,
                      existing.cert_path.parent)
        return existing
    d = pki_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname() or "werkvloer"
    uri = f"urn:{host}:werkvloer:opcua-client"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Werkvloer OPC UA client ({host})"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Werkvloer")])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri), x509.DNSName(host)]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # OPC 10000-6 §6.2.2: application instance certificates need these usages.
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                     data_encipherment=True, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = d / KEY_NAME, d / CERT_NAME
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    info = _info(cert_path, key_path, cert)
    log.info("generated OPC UA client certificate %s (SHA-1 thumbprint %s); trust it on the PLC",
             cert_path, info.sha1)
    return info


def describe(info: ClientCertificate) -> str:
    return (f"certificate:     {info.cert_path}\n"
            f"application uri: {info.application_uri}\n"
            f"SHA-1:           {info.sha1}\n"
            f"SHA-256:         {info.sha256}\n"
            f"valid until:     {info.not_after:%Y-%m-%d}\n"
            "Trust this certificate on the OPC UA server (PLC): copy the .der file to its trusted "
            "certificates, or accept it in the rejected list after a first connection attempt, "
            "comparing the SHA-1 thumbprint.")


def main(argv: list[str]) -> int:
    """``werkvloer opcua certificate [--data-dir DIR] [--create]``: show the client certificate."""
    p = argparse.ArgumentParser(prog="werkvloer opcua certificate",
                                description="Show (or create) the box's OPC UA client certificate and thumbprints.")
    p.add_argument("--data-dir", default="/var/lib/werkvloer", help="the box's data directory (box.data_dir)")
    p.add_argument("--create", action="store_true", help="generate the certificate if there is none yet")
    args = p.parse_args(argv)
    try:
        info = ensure_client_certificate(args.data_dir) if args.create else client_certificate(args.data_dir)
    except OSError as exc:
        print(f"cannot use {pki_dir(args.data_dir)}: {exc}; check --data-dir and its permissions", file=sys.stderr)
        return 1
    if info is None:
        print(f"no client certificate in {pki_dir(args.data_dir)} yet; run with --create, or connect once "
              "with security_mode = \"Sign\" or \"SignAndEncrypt\"", file=sys.stderr)
        return 1
    print(describe(info))
    return 0
