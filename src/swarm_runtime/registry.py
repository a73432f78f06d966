"""The stack's own image registry: how every Swarm node gets the stack's images.

Debian's docker-registry (CNCF Distribution) in a container on this manager
(images/registry/Dockerfile), listening on the manager's swarm address over TLS. Its
certificate is signed by a CA made here for it alone (the CA's key is discarded once the
certificate is signed); Docker trusts the CA for this registry only, through
``/etc/docker/certs.d/<address>/ca.crt`` on each node (the Ansible play copies it to the
other hosts). No registry on the internet is ever asked.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from compose_runtime.engine import DockerError, docker, image_id, run

#: The registry's container and data volume on the manager.
CONTAINER = "jupyterhub-keycloak-registry"
VOLUME = "jupyterhub-keycloak-registry"
PORT = 5000
#: Where Docker looks for a registry's CA (every engine on a host reads it).
CERTS_D = Path(os.environ.get("DOCKER_CERTS_D", "/etc/docker/certs.d"))
CONFIG = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/docker-registry
  delete:
    enabled: true
http:
  addr: :5000
  tls:
    certificate: /etc/docker/registry/tls.crt
    key: /etc/docker/registry/tls.key
"""


@dataclass(frozen=True)
class Registry:
    """The registry at ``address`` (host:port), its TLS files in ``folder``."""

    address: str
    folder: Path

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    def ensure_tls(self) -> bool:
        """A CA and a certificate for the registry's address, unless they are there; whether
        they were made now."""
        cert = self.folder / "tls.crt"
        if cert.exists() and self.ca.exists() and _names(cert) == {self.host}:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stack registry CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        server = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.host)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([_general_name(self.host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        key_file = self.folder / "tls.key"
        key_file.touch(mode=0o600)
        key_file.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        cert.write_bytes(server.public_bytes(pem))
        self.ca.write_bytes(ca.public_bytes(pem))
        (self.folder / "config.yml").write_text(CONFIG)
        return True

    def trust(self, certs_d: Path = CERTS_D) -> Path:
        """Docker on this host trusts the registry's CA for this registry only."""
        target = certs_d / self.address / "ca.crt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.ca.read_bytes())
        (self.folder / "address").write_text(self.address + "\n")  # for remove()
        return target

    def start(self, image: str, new_tls: bool = False) -> bool:
        """The registry's container, running (started again if it stopped, made again with
        ``new_tls``: new TLS files, e.g. for a new address); whether it was started now."""
        state = subprocess.run(
            [docker(), "inspect", "--format", "{{.State.Running}}", CONTAINER],
            capture_output=True,
            text=True,
            check=False,
        )
        if state.returncode == 0 and state.stdout.strip() == "true" and not new_tls:
            return False
        if state.returncode == 0:
            run([docker(), "rm", "-f", CONTAINER])
        # The registry user (uid 100 in the image) reads the key: the folder is bound read-only
        # and the key handed over to that uid only.
        os.chown(self.folder / "tls.key", 100, 101)
        run(
            [
                docker(),
                "run",
                "--detach",
                "--name",
                CONTAINER,
                "--restart",
                "unless-stopped",
                "--publish",
                f"{self.host}:{self.address.rsplit(':', 1)[1]}:{PORT}",
                "--volume",
                f"{self.folder}:/etc/docker/registry:ro",
                "--volume",
                f"{VOLUME}:/var/lib/docker-registry",
                "--read-only",
                "--cap-drop",
                "ALL",
                "--security-opt",
                "no-new-privileges:true",
                "--memory",
                "256m",
                image,
            ]
        )
        return True

    def push(self, images: list[str]) -> list[str]:
        """Tag each local image as the registry's copy and push them all at once (the engine
        compresses one image while it uploads another); the copies' names."""
        missing = [image for image in images if image_id(image) is None]
        if missing:
            raise DockerError(f"images not on this host: {', '.join(missing)}: build them first")
        copies = [f"{self.address}/{image}" for image in images]
        for image, copy in zip(images, copies, strict=True):
            run([docker(), "tag", image, copy])
        with ThreadPoolExecutor(max_workers=max(1, len(copies))) as pool:
            list(pool.map(lambda copy: run([docker(), "push", "--quiet", copy]), copies))
        return copies

    @classmethod
    def recorded(cls, folder: Path) -> Registry:
        """The registry whose TLS files ``folder`` holds (its address as ensure_tls wrote it)."""
        try:
            return cls((folder / "address").read_text().strip(), folder)
        except OSError:
            return cls("", folder)

    def remove(self, certs_d: Path = CERTS_D) -> None:
        """The container, its data, and Docker's trust in its CA on this host."""
        subprocess.run([docker(), "rm", "-f", CONTAINER], capture_output=True, check=False)
        subprocess.run([docker(), "volume", "rm", VOLUME], capture_output=True, check=False)
        if self.address:
            (certs_d / self.address / "ca.crt").unlink(missing_ok=True)
            try:
                (certs_d / self.address).rmdir()
            except OSError:
                pass


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _names(cert_file: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n.value) for n in names}
