"""An extra CA bundle (EXTRA_CA_BUNDLE) is trusted at run time by our Python containers.

Certificates are compared by SHA-256 fingerprint, never by text: every PEM bundle ends with
the same ``-----END CERTIFICATE-----`` line. `.ci/run` makes EXTRA_CA_BUNDLE the system bundle
plus a CA generated for the run, which no image can contain by accident.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.compose.conftest import docker

# The CA fingerprints that Python's default TLS context loads, given the bundle of pid 1.
TRUSTED_BY_PYTHON = (
    "import hashlib, json, ssl\n"
    "ders = ssl.create_default_context().get_ca_certs(binary_form=True)\n"
    "print(json.dumps([hashlib.sha256(d).hexdigest() for d in ders]))\n"
)


PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)


def fingerprints(pem: bytes) -> set[str]:
    """SHA-256 fingerprints (hex) of every certificate in a PEM bundle: the digest of each
    certificate's DER bytes. (Not through cryptography's certificate parser: it warns about,
    and will refuse, some CAs of Debian's own bundle.)"""
    blocks = PEM_CERTIFICATE.findall(pem.decode("ascii", errors="replace"))
    return {hashlib.sha256(base64.b64decode("".join(b.split()))).hexdigest() for b in blocks}


def _pid1_env(container: str) -> dict[str, str]:
    raw = docker("exec", container, "cat", "/proc/1/environ").stdout
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _file(container: str, path: str) -> bytes:
    result = docker("exec", container, "base64", "-w0", path)
    assert result.returncode == 0, f"{container}: cannot read {path}: {result.stderr}"
    return base64.b64decode(result.stdout)


def test_fingerprints_see_every_certificate_of_a_bundle() -> None:
    """The comparison below is only as good as the parser: it must find each certificate,
    and its fingerprint must be the certificate's (as cryptography computes it)."""
    system = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    assert len(fingerprints(system)) == system.count(b"-----BEGIN CERTIFICATE-----") > 1
    assert fingerprints(b"") == set()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fingerprint check")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert fingerprints(system + pem) - fingerprints(system) == {
        cert.fingerprint(hashes.SHA256()).hex()
    }


@pytest.mark.parametrize("which", ["hub", "reader"])
def test_extra_ca_reaches_hub_and_user_containers(which: str, reader_container: str) -> None:
    container = {"hub": "jupyterhub-keycloak-hub-1", "reader": reader_container}[which]
    extra = os.environ.get("EXTRA_CA_BUNDLE", "")
    env = _pid1_env(container)
    assert env, f"{container}: cannot read the environment of pid 1"
    if not (extra and Path(extra).stat().st_size):
        assert "SSL_CERT_FILE" not in env  # harmless when absent
        return
    wanted = fingerprints(Path(extra).read_bytes())
    assert wanted, f"{extra} holds no PEM certificate"
    own = fingerprints(_file(container, "/etc/ssl/certs/ca-certificates.crt"))
    assert wanted - own, (
        f"every CA in {extra} is already in the image's own bundle: this test would prove "
        "nothing. Use a bundle with a CA of its own (.ci/run generates one)."
    )
    bundle = env.get("SSL_CERT_FILE")
    assert bundle, f"{container}: SSL_CERT_FILE not set"
    missing = wanted - fingerprints(_file(container, bundle))
    assert not missing, f"{container}: {len(missing)} CA(s) of {extra} missing from {bundle}"
    # Trusted, not just present: Python's default TLS context, pointed at the same bundle as
    # pid 1 (a `docker exec` does not inherit pid 1's environment), loads every one of them.
    result = docker(
        "exec", "-e", f"SSL_CERT_FILE={bundle}", container, "python", "-c", TRUSTED_BY_PYTHON
    )
    assert result.returncode == 0, result.stderr
    untrusted = wanted - set(json.loads(result.stdout))
    assert not untrusted, f"{container}: Python does not trust {len(untrusted)} CA(s) of {extra}"
