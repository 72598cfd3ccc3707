"""The backup file: a plain tar (`tar -tf` lists it, `tar -xf` unpacks it for pg_restore by
hand) holding, in this order,

- `database.dump`: `pg_dump --format=custom` of the whole database,
- `secret_key`: the generated cookie key (absent when CHATIN_SECRET_KEY supplied the key),
- `manifest.json`: format and versions, row counts, applied migrations, and the dump's size
  and SHA-256, which is why it comes last.

The dump streams straight into the file (no second copy on disk): its header is written
with size 0 and rewritten once the size is known, at the same length (GNU headers are one
512-byte block for any size and a short name).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from chatin.ops.postgres import OpsError

FORMAT = "chatin-backup"
FORMAT_VERSION = 1
DUMP = "database.dump"
SECRET_KEY = "secret_key"
MANIFEST = "manifest.json"
BLOCK = 512
CHUNK = 256 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(time.time())
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    assert len(header) == BLOCK
    return header


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


@dataclass(frozen=True)
class DumpInfo:
    size: int
    sha256: str


class Writer:
    """Writes a backup's members into an open file, in order; `finish` makes it durable."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle

    async def dump_from(
        self, stream: asyncio.StreamReader, on_bytes: Callable[[int], None]
    ) -> DumpInfo:
        start = self.handle.tell()
        self.handle.write(_header(DUMP, 0))
        digest = hashlib.sha256()
        size = 0
        while chunk := await stream.read(CHUNK):
            self.handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            on_bytes(size)
        self.handle.write(_padding(size))
        end = self.handle.tell()
        self.handle.seek(start)
        self.handle.write(_header(DUMP, size))
        self.handle.seek(end)
        return DumpInfo(size, digest.hexdigest())

    def add(self, name: str, data: bytes) -> None:
        self.handle.write(_header(name, len(data)) + data + _padding(len(data)))

    def finish(self) -> None:
        """The tar's end marker, then everything on disk before the file is renamed."""
        self.handle.write(b"\0" * (2 * BLOCK))
        self.handle.flush()
        os.fsync(self.handle.fileno())


@dataclass(frozen=True)
class Backup:
    """A backup file that passed every check short of restoring it."""

    path: Path
    manifest: dict[str, Any]
    secret_key: str | None
    dump_offset: int
    dump_size: int

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])

    def dump_chunks(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            handle.seek(self.dump_offset)
            left = self.dump_size
            while left > 0:
                chunk = handle.read(min(CHUNK, left))
                if not chunk:
                    raise OpsError(f"{self.path} ended early: it changed while being read")
                left -= len(chunk)
                yield chunk


def read(path: Path) -> Backup:
    """Open and check a backup before anything is touched: a truncated, damaged or foreign
    file is refused here with what is wrong with it."""
    if not path.is_file():
        raise OpsError(f"{path} is not a file")
    try:
        with tarfile.open(path, "r:") as tar:
            members = {member.name: member for member in tar.getmembers()}
            manifest = _manifest(path, tar, members)
            key_member = members.get(SECRET_KEY)
            secret_key = _text(tar, key_member) if key_member is not None else None
    except (tarfile.TarError, EOFError, UnicodeDecodeError) as error:
        raise OpsError(f"{path} is not a ChatIn backup, or it is truncated ({error})") from None
    dump = members[DUMP]
    backup = Backup(path, manifest, secret_key, dump.offset_data, dump.size)
    _check_dump(backup)
    return backup


def _manifest(path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> Any:
    missing = [name for name in (DUMP, MANIFEST) if name not in members]
    if missing:
        raise OpsError(
            f"{path} is not a ChatIn backup, or it is truncated: it lacks {', '.join(missing)}"
        )
    if members[MANIFEST].size > MAX_MANIFEST_BYTES:
        raise OpsError(f"{path} is not a ChatIn backup: its manifest is far too large")
    try:
        manifest = json.loads(_text(tar, members[MANIFEST]))
    except ValueError:
        raise OpsError(f"{path} is not a ChatIn backup: its manifest is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise OpsError(f"{path} is not a ChatIn backup: its manifest names another format")
    if manifest.get("version") != FORMAT_VERSION:
        raise OpsError(
            f"{path} is a ChatIn backup of format {manifest.get('version')}; this ChatIn reads "
            f"format {FORMAT_VERSION}: restore it with the ChatIn version that made it"
        )
    if not all(isinstance(manifest.get(key), dict) for key in ("counts", "dump")):
        raise OpsError(f"{path} is not a ChatIn backup: its manifest lacks counts or checksum")
    return manifest


def _text(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    extracted = tar.extractfile(member)
    if extracted is None:
        raise tarfile.ReadError(f"{member.name} is not a regular file")
    return extracted.read().decode()


def _check_dump(backup: Backup) -> None:
    expected = backup.manifest["dump"]
    if backup.dump_size != expected.get("bytes"):
        raise OpsError(f"{backup.path} is damaged: its database dump has the wrong size")
    digest = hashlib.sha256()
    for chunk in backup.dump_chunks():
        digest.update(chunk)
    if digest.hexdigest() != expected.get("sha256"):
        raise OpsError(f"{backup.path} is damaged: its database dump fails its checksum")
