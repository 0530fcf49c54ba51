"""Atomic file writes that keep the umask: every table, checkpoint and text file the package
writes goes to a temporary file beside its destination and is renamed onto it only when complete,
with the permissions a plain new file would get (so a crash never leaves a file that looks done,
and shared campaign directories stay group-readable under umask 002)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_path(path: Path) -> Path:
    """A new empty temporary file beside ``path`` (same file system, so the rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to ask is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the mode a plain new file would get under the umask (mkstemp makes it 0600),
    then rename it onto ``path``."""
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, path)


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` with the
    umask's permissions, on error removed. Whatever is written there never looks finished before
    it is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file (JSON, HTML, ...) atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)
