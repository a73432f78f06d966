"""An extra CA bundle (EXTRA_CA_BUNDLE) is trusted at run time by our Python containers."""

from __future__ import annotations

import os
from pathlib import Path

from tests.compose.conftest import docker


def _pid1_env(container: str) -> dict[str, str]:
    raw = docker("exec", container, "cat", "/proc/1/environ").stdout
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def test_extra_ca_reaches_hub_and_user_containers(reader_container: str) -> None:
    extra = os.environ.get("EXTRA_CA_BUNDLE", "")
    for container in ("jupyterhub-keycloak-hub-1", reader_container):
        env = _pid1_env(container)
        if extra and Path(extra).stat().st_size:
            bundle = env.get("SSL_CERT_FILE")
            assert bundle, f"{container}: SSL_CERT_FILE not set"
            content = docker("exec", container, "cat", bundle).stdout
            assert Path(extra).read_text().strip().splitlines()[-1] in content
        else:
            assert "SSL_CERT_FILE" not in env  # harmless when absent
