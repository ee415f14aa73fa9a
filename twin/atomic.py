"""Atomic file replacement: a reader (or a crash) never sees half a file.

Every save in Lifeline Twin — projects, readings, result tables, pictures —
writes a temporary file beside its target and renames it over the target only
once it is complete.  ``durable=True`` also flushes the file and the rename to
disk, so the previous version survives a power cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path | str, durable: bool = True, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The temporary file is hidden and ends in ``.tmp`` (so a folder scan for
    ``*.parquet`` never mistakes one left by a hard kill for data), or in the
    target's own suffix with ``keep_suffix`` (for GDAL and Pillow, which choose
    formats by it).  On any error it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = f".tmp{path.suffix}" if keep_suffix else ".tmp"
    tmp = path.with_name(f".{path.stem if keep_suffix else path.name}.{os.getpid()}{tail}")
    if tmp.exists():
        tmp.unlink()
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    if durable:
        _sync_directory(path.parent)


def write(path: Path | str, data: str | bytes, durable: bool = True) -> Path:
    """Write text (UTF-8) or bytes to ``path`` atomically."""
    with replacing(path, durable) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return Path(path)


def _sync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
