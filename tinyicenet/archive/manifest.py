"""The manifest of an archive run: what is in the output folder, and made by what.

``manifest.json`` in the output folder is written only by the client (one writer), atomically
(:func:`tinyicenet.atomic.write_text`), so a reader sees the previous or the next state, never a
torn one. It holds

* ``identity``: what made the products: the checkpoint's sha256, the model name and every
  option that changes a product (backend, CRS, resolution, downsample, tile, batch, quicklook);
* ``scenes``: per scene name its ``status`` (``ok`` | ``failed``), the input file (path, bytes,
  mtime), each product file with its size and sha256, the attempt count, the error of a failed
  scene and the scene's summary record;
* ``package``: the upload package built from the scenes, with the checksums it was built from.

A scene counts as done on a re-run only when its entry is ``ok``, was made with the same
identity from the same input file, and every product file still exists with the recorded size
and sha256. Anything else is redone; a product on disk that the manifest does not vouch for is
simply replaced.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tinyicenet.atomic import write_text
from tinyicenet.errors import ConfigError, DataError

MANIFEST_NAME = "manifest.json"
SCHEMA = "tinyicenet-archive-manifest"
SCHEMA_VERSION = 1


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (bounded memory for large products)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_entry(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"bytes", "sha256"}`` of one product file."""
    p = Path(path)
    return {"bytes": p.stat().st_size, "sha256": sha256_file(p)}


def input_entry(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Identity of an input scene file that is cheap to take: path, size, modification time.

    (Hashing every input of an archive would read terabytes on each re-run; a copied or
    rewritten file changes size or mtime and is redone, which is the safe direction.)
    """
    p = Path(path)
    st = p.stat()
    return {"path": str(p), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


class Manifest:
    """The JSON manifest of one output folder (see module doc)."""

    def __init__(self, out_dir: Path, identity: dict[str, Any],
                 data: dict[str, Any] | None = None) -> None:
        self.path = Path(out_dir) / MANIFEST_NAME
        self.out_dir = Path(out_dir)
        self.identity = identity
        self.data: dict[str, Any] = data or {"schema": SCHEMA, "schema_version": SCHEMA_VERSION,
                                             "identity": identity, "scenes": {}}
        self._last_write = 0.0
        self._dirty = False

    # ---- loading --------------------------------------------------------------------------
    @classmethod
    def open(cls, out_dir: str | os.PathLike[str], identity: dict[str, Any]) -> Manifest:
        """The folder's manifest (or an empty one); a corrupt or foreign file is a DataError."""
        out = Path(out_dir)
        path = out / MANIFEST_NAME
        if not path.exists():
            return cls(out, identity)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable manifest ({exc}); move it away to start "
                            "the folder afresh") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise DataError(f"{path}: not a tinyicenet archive manifest")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise DataError(f"{path}: manifest schema_version {data.get('schema_version')}, "
                            f"this tinyicenet reads {SCHEMA_VERSION}")
        if not isinstance(data.get("scenes"), dict):
            raise DataError(f"{path}: manifest has no scenes table")
        return cls(out, identity, data)

    @property
    def previous_identity(self) -> dict[str, Any] | None:
        return self.data.get("identity")

    @property
    def scenes(self) -> dict[str, dict[str, Any]]:
        return self.data["scenes"]

    # ---- questions ------------------------------------------------------------------------
    def is_complete(self, name: str, scene_path: str | os.PathLike[str]) -> bool:
        """True when ``name``'s products are all there, intact, made by this identity from
        this input (see module doc)."""
        entry = self.scenes.get(name)
        if not entry or entry.get("status") != "ok" or entry.get("identity") != self.identity:
            return False
        try:
            now = input_entry(scene_path)
        except OSError:
            return False
        was = entry.get("input", {})
        if (now["bytes"], now["mtime_ns"]) != (was.get("bytes"), was.get("mtime_ns")):
            return False
        files = entry.get("files") or {}
        if not files:
            return False
        for fname, want in files.items():
            p = self.out_dir / fname
            try:
                if p.stat().st_size != want.get("bytes") or sha256_file(p) != want.get("sha256"):
                    return False
            except OSError:
                return False
        return True

    # ---- changes --------------------------------------------------------------------------
    def record_ok(self, name: str, scene_path: str | os.PathLike[str],
                  files: Mapping[str, dict[str, Any]], record: dict[str, Any],
                  attempts: int, worker: str | None = None) -> None:
        self.scenes[name] = {
            "status": "ok", "identity": self.identity, "input": input_entry(scene_path),
            "files": dict(files), "attempts": attempts, "worker": worker, "record": record,
            "finished": _now(),
        }
        self._dirty = True

    def record_failed(self, name: str, scene_path: str | os.PathLike[str], error: str,
                      attempts: int, record: dict[str, Any] | None = None) -> None:
        entry: dict[str, Any] = {"status": "failed", "identity": self.identity,
                                 "input": {"path": str(scene_path)}, "files": {},
                                 "attempts": attempts, "error": error, "record": record,
                                 "finished": _now()}
        with contextlib.suppress(OSError):
            entry["input"] = input_entry(scene_path)
        self.scenes[name] = entry
        self._dirty = True

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self._dirty = True

    def write(self, *, every_s: float = 0.0) -> bool:
        """Write if changed and at least ``every_s`` seconds after the last write.

        Throttled during a run: rewriting the whole file after each of thousands of scenes
        would cost O(scenes^2) bytes; a product that finished after the last write is simply
        redone on a re-run (never trusted without an entry).
        """
        if not self._dirty:
            return False
        now = time.monotonic()
        if every_s and now - self._last_write < every_s:
            return False
        self.data["identity"] = self.identity
        self.data["updated"] = _now()
        write_text(self.path, json.dumps(self.data, indent=1, sort_keys=False) + "\n")
        self._last_write = now
        self._dirty = False
        return True


@contextlib.contextmanager
def folder_lock(out_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on the output folder for the run (one client per folder).

    The lock is a ``flock`` on the folder itself (no lock file to leave behind); the kernel
    releases it when the process dies, so a killed run leaves no stale lock. Filesystems
    without flock support (some network mounts) run unlocked.
    """
    import fcntl

    fd = os.open(out_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(f"{out_dir}: another tinyicenet run is writing into this "
                                  "folder") from None
            # ENOLCK / EOPNOTSUPP: no locking here; carry on unlocked
        yield
    finally:
        os.close(fd)


def _now() -> str:
    import datetime as dt
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
