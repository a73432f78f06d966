"""A backup folder's manifest: what each file is, its size and SHA-256; and the check that the
folder is whole before anything is restored from it.

The manifest (``manifest.json``) is written last, so a backup that stopped half-way has none
and is refused. Files are created private (0600) in a private folder (0700): they hold the
stack's secrets and the users' refresh tokens (encrypted with a key that is among them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

MANIFEST = "manifest.json"
FORMAT = 1

#: What a file of a backup is (``Entry.kind``) and what ``Entry.source`` then names.
KINDS = {
    "secrets": "the secrets file (source: its path)",
    "postgres-globals": "pg_dumpall --globals-only: the roles (source: the volume)",
    "postgres-database": "pg_dump --format=custom of one database (source: its name)",
    "sqlite": "a consistent copy of the fruit API's SQLite database (source: the volume)",
    "user-home": "tar of a user's home volume (source: the volume; user: the user)",
}
#: Names docker and Postgres accept here (a restore passes them to both).
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class BackupError(RuntimeError):
    """A backup cannot be made or used; the message names the cause and the fix."""


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the backup folder, with / separators
    kind: str
    size: int
    sha256: str
    source: str
    user: str = ""  # user-home only


@dataclass
class Manifest:
    created: str  # ISO 8601, UTC
    project: str  # the compose project backed up
    image_tag: str  # the stack's IMAGE_TAG
    images: dict[str, str]  # service -> image ID the stack ran
    seconds: float = 0.0  # how long the backup took
    entries: list[Entry] = field(default_factory=list)
    format: int = FORMAT

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def of_kind(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise BackupError(
                f"{where} is not valid JSON ({error}): the backup is damaged."
            ) from None
        if not isinstance(data, dict):
            raise BackupError(f"{where}: expected a JSON object: the backup is damaged.")
        if data.get("format") != FORMAT:
            raise BackupError(
                f"{where}: format {data.get('format')!r}, this version reads format {FORMAT}: "
                "restore it with the version of this repository that made it."
            )
        try:
            entries = [Entry(**entry) for entry in data.pop("entries")]
            return cls(**data, entries=entries)
        except (KeyError, TypeError) as error:
            raise BackupError(f"{where}: missing or unknown field ({error}): damaged.") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()  # not hashlib.file_digest: 3.11+, and hosts may have 3.10
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def private_folder(path: Path) -> Path:
    """Create ``path`` (mode 0700); refuse one that exists and is not empty."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} exists and is not an empty folder: name a new one.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    return path


@contextmanager
def private_file(path: Path) -> Iterator[IO[bytes]]:
    """A new file, mode 0600 from the start (never readable by others, even briefly)."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        yield f


class Recorder:
    """Writes files into a backup folder, hashing as they are written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: list[Entry] = []

    def write(
        self, path: str, kind: str, source: str, chunks: Iterator[bytes], user: str = ""
    ) -> Entry:
        digest, size = hashlib.sha256(), 0
        with private_file(self.folder / path) as f:
            for chunk in chunks:
                f.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        entry = Entry(path, kind, size, digest.hexdigest(), source, user)
        self.entries.append(entry)
        return entry

    def add(self, path: str, kind: str, source: str, user: str = "") -> Entry:
        """A file written into the folder by another program (e.g. tar in a container)."""
        written = self.folder / path
        written.chmod(0o600)
        entry = Entry(path, kind, written.stat().st_size, sha256_of(written), source, user)
        self.entries.append(entry)
        return entry

    def finish(self, manifest: Manifest) -> Path:
        """Write the manifest, last: its presence says the backup is whole."""
        manifest.entries = list(self.entries)
        with private_file(self.folder / MANIFEST) as f:
            f.write(manifest.to_json().encode())
        return self.folder / MANIFEST


def _check_entry(entry: Entry, where: Path) -> None:
    path = PurePosixPath(entry.path)
    if path.is_absolute() or ".." in path.parts or not path.parts or entry.path == MANIFEST:
        raise BackupError(f"{where}: file {entry.path!r} is outside the backup: damaged.")
    if entry.kind not in KINDS:
        raise BackupError(f"{where}: {entry.path} has an unknown kind {entry.kind!r}.")
    if entry.kind == "postgres-database" and not _DATABASE.match(entry.source):
        raise BackupError(f"{where}: {entry.path}: database name {entry.source!r} refused.")
    if entry.kind == "user-home" and not (_SAFE_NAME.match(entry.user) and entry.user):
        raise BackupError(f"{where}: {entry.path}: user name {entry.user!r} refused.")


def verify(folder: Path) -> Manifest:
    """The folder's manifest, once every file it lists is there with its size and SHA-256.
    BackupError naming the first problem otherwise (nothing is changed)."""
    if not folder.is_dir():
        raise BackupError(
            f"no backup folder at {folder}: give the path of a folder `make backup` made."
        )
    where = folder / MANIFEST
    if not where.is_file():
        raise BackupError(
            f"{where} is missing: not a backup, or one that did not finish (the manifest is "
            "written last). Use another backup."
        )
    manifest = Manifest.from_json(where.read_text(), where)
    if not manifest.of_kind("secrets"):
        raise BackupError(f"{where} lists no secrets file: the backup is incomplete.")
    for entry in manifest.entries:
        _check_entry(entry, where)
        path = folder / entry.path
        if not path.is_file():
            raise BackupError(
                f"{path} is missing (listed in {MANIFEST}): the backup is incomplete."
            )
        size = path.stat().st_size
        if size != entry.size:
            raise BackupError(
                f"{path} has {size} bytes, {MANIFEST} says {entry.size}: the file is damaged "
                "or cut short. Use another backup."
            )
        if sha256_of(path) != entry.sha256:
            raise BackupError(
                f"{path}: its SHA-256 differs from {MANIFEST}'s: the file is damaged. Use "
                "another backup."
            )
    return manifest


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
