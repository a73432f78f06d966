"""swarm_runtime.registry: the stack registry's TLS files, Docker's trust in its CA, and its
removal. Files go to tmp_path; no docker command runs (``subprocess`` is a fake)."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarm_runtime import registry
from swarm_runtime.registry import CONFIG, CONTAINER, VOLUME, Registry

ADDRESS = "10.0.0.5:5000"


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def san(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def tls_files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ("tls.crt", "tls.key", "ca.crt")}


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry(ADDRESS, tmp_path / "swarm" / "registry")


def test_the_host_is_the_address_without_its_port() -> None:
    assert Registry("10.0.0.5:5000", Path("/x")).host == "10.0.0.5"
    assert Registry("registry.example.org:443", Path("/x")).host == "registry.example.org"
    assert Registry(ADDRESS, Path("/x")).ca == Path("/x/ca.crt")


def test_a_ca_and_a_server_certificate_for_the_registrys_ip_address(reg: Registry) -> None:
    reg.ensure_tls()
    ca, cert = load(reg.ca), load(reg.folder / "tls.crt")
    assert san(cert) == [x509.IPAddress(ipaddress.ip_address("10.0.0.5"))]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "10.0.0.5"
    cert.verify_directly_issued_by(ca)  # raises unless the CA signed it
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    key = serialization.load_pem_private_key((reg.folder / "tls.key").read_bytes(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    assert (reg.folder / "config.yml").read_text() == CONFIG


def test_the_server_certificate_is_not_signed_by_another_ca(tmp_path: Path) -> None:
    one, other = Registry(ADDRESS, tmp_path / "one"), Registry(ADDRESS, tmp_path / "other")
    one.ensure_tls()
    other.ensure_tls()
    with pytest.raises(InvalidSignature):
        # The same issuer name, so only the signature tells them apart.
        load(one.folder / "tls.crt").verify_directly_issued_by(load(other.ca))


def test_a_host_name_gets_a_dns_name(tmp_path: Path) -> None:
    reg = Registry("registry.example.org:5000", tmp_path)
    reg.ensure_tls()
    assert san(load(tmp_path / "tls.crt")) == [x509.DNSName("registry.example.org")]


def test_the_private_key_is_the_owners_only(reg: Registry) -> None:
    reg.ensure_tls()
    assert stat.S_IMODE((reg.folder / "tls.key").stat().st_mode) == 0o600


def test_a_second_call_keeps_the_files(reg: Registry) -> None:
    reg.ensure_tls()
    first = tls_files(reg.folder)
    Registry(ADDRESS, reg.folder).ensure_tls()
    assert tls_files(reg.folder) == first


def test_a_new_address_gets_new_files(reg: Registry) -> None:
    reg.ensure_tls()
    first = tls_files(reg.folder)
    moved = Registry("10.0.0.6:5000", reg.folder)
    moved.ensure_tls()
    now = tls_files(reg.folder)
    assert all(now[name] != first[name] for name in first)
    cert = load(reg.folder / "tls.crt")
    assert san(cert) == [x509.IPAddress(ipaddress.ip_address("10.0.0.6"))]
    cert.verify_directly_issued_by(load(moved.ca))


def test_a_missing_ca_makes_new_files(reg: Registry) -> None:
    reg.ensure_tls()
    first = tls_files(reg.folder)
    reg.ca.unlink()
    reg.ensure_tls()
    assert tls_files(reg.folder)["tls.crt"] != first["tls.crt"]
    load(reg.folder / "tls.crt").verify_directly_issued_by(load(reg.ca))


def test_docker_trusts_the_ca_for_this_registry_only(reg: Registry, tmp_path: Path) -> None:
    reg.ensure_tls()
    certs_d = tmp_path / "certs.d"
    target = reg.trust(certs_d)
    assert target == certs_d / ADDRESS / "ca.crt"
    assert target.read_bytes() == reg.ca.read_bytes()
    assert [p.name for p in certs_d.iterdir()] == [ADDRESS]
    assert (reg.folder / "address").read_text() == ADDRESS + "\n"
    assert Registry.recorded(reg.folder) == reg


def test_a_folder_without_a_recorded_address_is_a_registry_without_one(tmp_path: Path) -> None:
    assert Registry.recorded(tmp_path / "nothing") == Registry("", tmp_path / "nothing")


class Runs:
    """``subprocess`` as registry.py uses it: ``run`` records each command, runs none."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, argv, **kwargs):
        self.calls.append(list(argv))
        return SimpleNamespace(returncode=0, stdout="", stderr="")


@pytest.fixture
def runs(monkeypatch) -> Runs:
    fake = Runs()
    monkeypatch.setattr(registry, "subprocess", SimpleNamespace(run=fake.run))
    return fake


def test_remove_takes_the_container_its_data_and_the_trust(
    reg: Registry, tmp_path: Path, runs: Runs
) -> None:
    certs_d = tmp_path / "certs.d"
    reg.ensure_tls()
    reg.trust(certs_d)
    (certs_d / "other:5000").mkdir()
    Registry.recorded(reg.folder).remove(certs_d)
    assert [call[1:] for call in runs.calls] == [["rm", "-f", CONTAINER], ["volume", "rm", VOLUME]]
    assert not (certs_d / ADDRESS).exists()
    assert (certs_d / "other:5000").is_dir()  # another registry's trust stays


def test_remove_keeps_a_trust_folder_holding_more_than_the_ca(
    reg: Registry, tmp_path: Path, runs: Runs
) -> None:
    certs_d = tmp_path / "certs.d"
    reg.ensure_tls()
    reg.trust(certs_d)
    (certs_d / ADDRESS / "client.cert").write_text("someone else's")
    reg.remove(certs_d)
    assert [p.name for p in (certs_d / ADDRESS).iterdir()] == ["client.cert"]


def test_remove_without_a_recorded_address_touches_no_trust(tmp_path: Path, runs: Runs) -> None:
    certs_d = tmp_path / "certs.d"
    (certs_d / "10.0.0.9:5000").mkdir(parents=True)
    (certs_d / "10.0.0.9:5000" / "ca.crt").write_text("x")
    Registry.recorded(tmp_path / "never-made").remove(certs_d)
    assert len(runs.calls) == 2
    assert (certs_d / "10.0.0.9:5000" / "ca.crt").read_text() == "x"


def test_push_tags_and_pushes_every_image_and_names_the_copies(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(registry, "image_id", lambda image: "sha256:1")
    monkeypatch.setattr(registry, "run", lambda argv: calls.append(argv[1:]))
    copies = reg.push(["hub:dev", "postgres:15"])
    assert copies == [f"{ADDRESS}/hub:dev", f"{ADDRESS}/postgres:15"]
    assert calls[:2] == [["tag", "hub:dev", copies[0]], ["tag", "postgres:15", copies[1]]]
    assert sorted(calls[2:]) == [["push", "--quiet", copy] for copy in copies]


def test_push_names_every_missing_image_and_pushes_nothing(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(registry, "image_id", lambda image: None if "dev" in image else "x")
    monkeypatch.setattr(registry, "run", lambda argv: calls.append(argv))
    with pytest.raises(registry.DockerError, match="hub:dev, singleuser:dev: build them first"):
        reg.push(["hub:dev", "postgres:15", "singleuser:dev"])
    assert calls == []
