"""Atomic file replacement: a reader (or a crash) never sees half a file, and nothing not ours is replaced.

Every save in Lifeline Twin — projects, readings, result tables, pictures —
writes a temporary file beside its target and renames it over the target only
once it is complete.  ``durable=True`` also flushes the file and the rename to
disk, so the previous version survives a power cut.

Before anything is written, :func:`check_target` (the one guard every writer
goes through) looks at what is already at the target: a folder where a file
is expected, a damaged SQLite file, or a file of another kind than the one
being written (a project where a CSV log goes, another program's GeoPackage
where a project goes, a network ``.inp`` where a table goes) is refused with
one :class:`OutputRefused` naming the path and what is there.  Only a file of
the same kind (an earlier output) or an empty file is replaced; a CSV table
only by one whose header starts with the same column, and a JSON document
only by one that shares a top-level key with it (someone's ``pipes.csv`` or
``summary.json`` in an output folder is not ours), and a PNG only by one this
program wrote: every PNG it writes carries a ``Lifeline-Twin`` text chunk
(:func:`mark_png`), so someone's ``validation.png`` is refused.  A target that cannot be
written (a read-only folder, a full disk) is refused the same way, and what
was there is left as it was.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from twin.errors import TwinError


class OutputRefused(TwinError):
    """An output path holds something this program did not write, or cannot be written as asked."""


#: What a file of each kind looks like, in words for the refusal.
KIND_WORDS = {"project": "a Lifeline Twin project", "geopackage": "a GeoPackage from another program",
              "sqlite": "an SQLite database", "damaged-sqlite": "a damaged SQLite file (a damaged project?)",
              "png": "a PNG picture", "gif": "a GIF picture", "mp4": "an MP4 movie", "parquet": "a Parquet file",
              "tiff": "a TIFF raster", "inp": "an EPANET network (.inp)", "json": "a JSON file",
              "pdf": "a PDF document",
              "text": "a text (CSV) file", "binary": "a binary file", "empty": "an empty file",
              "folder": "a folder"}
_SUFFIX_KIND = {".csv": "text", ".txt": "text", ".json": "json", ".png": "png", ".gif": "gif", ".mp4": "mp4",
                ".parquet": "parquet", ".pdf": "pdf", ".gpkg": "project", ".tif": "tiff", ".tiff": "tiff"}
_INP = re.compile(r"(?im)^\s*\[(JUNCTIONS|PIPES|RESERVOIRS|TANKS|TITLE|OPTIONS)\]")


def sniff_bytes(head: bytes) -> str:
    """The kind of content from its first bytes (SQLite files need :func:`sniff` for the details)."""
    if not head:
        return "empty"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"GIF8"):
        return "gif"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "binary"
        text = head[:exc.start].decode("utf-8")
    if "\x00" in text:
        return "binary"
    if _INP.search(text):
        return "inp"
    if text.lstrip().startswith(("{", "[")):
        return "json"
    return "text"


def sniff(path: Path | str) -> str | None:
    """What is at ``path``: None (nothing), ``folder``, or a kind of :data:`KIND_WORDS`."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        return "folder"
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536)
    except OSError:
        return "binary"
    kind = sniff_bytes(head)
    if kind == "json":
        try:
            json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size < 64 * 2**20 else None
        except (ValueError, UnicodeDecodeError):
            kind = "text"
    if kind != "sqlite":
        return kind
    from urllib.parse import quote

    try:  # the path quoted as bytes: names that are not UTF-8 (or hold '?', '#', '%') open too
        con = sqlite3.connect(f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode=ro", uri=True)
        try:
            if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return "damaged-sqlite"
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return "damaged-sqlite"
    if "lifeline_metadata" in tables:
        return "project"
    if "gpkg_contents" in tables:
        return "geopackage"
    return "sqlite"


def kind_of_target(path: Path | str) -> str:
    """The kind a writer produces at ``path``, from its suffix (text when the suffix says nothing)."""
    return _SUFFIX_KIND.get(Path(path).suffix.lower(), "text")


def check_target(path: Path | str, kind: str) -> Path:
    """Refuse to write ``kind`` at ``path`` unless nothing, an empty file or a ``kind`` file is there."""
    path = Path(path)
    for folder in path.parents:
        if folder.exists() and not folder.is_dir():
            raise OutputRefused(f"{path}: cannot write there: {folder} is a file, not a folder")
    there = sniff(path)
    if there == "png" and kind == "png" and not png_is_ours(path):
        raise OutputRefused(f"{path}: exists and is a PNG picture this program did not write; refusing to write "
                            "over it (choose another output, or move the file)")
    if there is None or there == "empty" or there == kind:
        return path
    if there == "folder":
        raise OutputRefused(f"{path}: is a folder; a file is expected here")
    raise OutputRefused(f"{path}: exists and is {KIND_WORDS.get(there, there)}, not "
                        f"{KIND_WORDS.get(kind, kind)} this program wrote; refusing to write over it "
                        "(choose another output, or move the file)")


@contextmanager
def replacing(path: Path | str, durable: bool = True, keep_suffix: bool = False,
              kind: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    ``path`` first passes :func:`check_target` for ``kind`` (default: from its
    suffix).  The temporary file is hidden and ends in ``.tmp`` (so a folder
    scan for ``*.parquet`` never mistakes one left by a hard kill for data), or
    in the target's own suffix with ``keep_suffix`` (for GDAL and Pillow, which
    choose formats by it).  On any error it is removed and ``path`` is left as it was.
    """
    path = Path(path)
    check_target(path, kind or kind_of_target(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputRefused(f"{path}: cannot create the folder {path.parent} ({exc.strerror or exc})") from None
    tail = f".tmp{path.suffix}" if keep_suffix else ".tmp"
    tmp = path.with_name(f".{path.stem if keep_suffix else path.name}.{os.getpid()}{tail}")
    if tmp.exists():
        tmp.unlink()
    try:
        yield tmp
        _check_same_table(path, tmp)
        mark_png(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno in _CANNOT_WRITE or exc.filename in (str(tmp), str(path)):
            raise OutputRefused(f"{path}: cannot write it ({exc.strerror or exc})") from None
        raise
    except BaseException:
        _remove(tmp)
        raise
    if durable:
        sync_directory(path.parent)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The text chunk every PNG this program writes carries (keyword, then its text), after the header chunk.
PNG_MARK = b"Lifeline-Twin\x00written by Lifeline Twin"


def _png_chunks(data: bytes):
    """(type, start of the chunk, its data) of each chunk of a PNG, up to the first image data."""
    at = len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        yield kind, at, data[at + 8:at + 8 + length]
        if kind in (b"IDAT", b"IEND"):
            return
        at += 12 + length


def png_is_ours(path: Path | str) -> bool:
    """Whether the PNG at ``path`` carries this program's text chunk (:data:`PNG_MARK`)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    return any(kind == b"tEXt" and body == PNG_MARK for kind, _, body in _png_chunks(head))


def mark_png(path: Path) -> None:
    """Put :data:`PNG_MARK` in the PNG at ``path`` (after its header chunk) unless it is there or not a PNG."""
    import zlib

    with open(path, "rb") as fh:
        if fh.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            return
    data = Path(path).read_bytes()
    chunks = list(_png_chunks(data))
    if not chunks or chunks[0][0] != b"IHDR" or any(k == b"tEXt" and b == PNG_MARK for k, _, b in chunks):
        return
    end = len(PNG_SIGNATURE) + 12 + len(chunks[0][2])
    mark = (len(PNG_MARK).to_bytes(4, "big") + b"tEXt" + PNG_MARK
            + zlib.crc32(b"tEXt" + PNG_MARK).to_bytes(4, "big"))
    Path(path).write_bytes(data[:end] + mark + data[end:])


_CANNOT_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


def _remove(tmp: Path) -> None:
    try:
        if tmp.exists():
            tmp.unlink()
    except OSError:
        pass


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip().lstrip("\ufeff")


def _head(path: Path, size: int = 4096) -> str:
    with open(path, "rb") as fh:
        return fh.read(size).decode("utf-8", "replace")


def _check_same_table(path: Path, new: Path | str) -> None:
    """Refuse to replace a CSV whose header starts with another column, or a JSON document sharing no key.

    ``new``: the file about to replace ``path``, or its text.  An earlier output
    of the same table has the same first column (its other columns may follow
    the network: ``time_s`` then one column per junction); a file that someone
    else keeps under the same name does not.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json") or not path.is_file() or path.stat().st_size == 0:
        return
    if suffix == ".csv":
        old, fresh = _first_line(_head(path)), _first_line(new if isinstance(new, str) else _head(new))
        if old.split(",")[0].strip() != fresh.split(",")[0].strip():
            raise OutputRefused(f"{path}: exists and is a CSV table this program did not write (its header "
                                f"{old[:60]!r} is not {fresh[:60]!r}); refusing to write over it "
                                "(choose another output, or move the file)")
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        fresh = json.loads(new if isinstance(new, str) else new.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError):
        return  # not JSON on one side: check_target has judged the kinds
    if isinstance(old, dict) and isinstance(fresh, dict) and old and fresh and not set(old) & set(fresh):
        raise OutputRefused(f"{path}: exists and is a JSON document this program did not write (its keys "
                            f"{', '.join(sorted(old)[:4])} are none of this output's); refusing to write over it "
                            "(choose another output, or move the file)")


def write(path: Path | str, data: str | bytes, durable: bool = True) -> Path:
    """Write text (UTF-8) or bytes to ``path`` atomically; only over a file of the same kind as ``data``."""
    sample = data[:65536] if isinstance(data, bytes) else data[:65536].encode("utf-8", "replace")
    kind = sniff_bytes(sample)
    with replacing(path, durable, kind=kind) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return Path(path)


def write_many(items) -> list[Path]:
    """Write several outputs (``(path, text or bytes)`` pairs), each atomically, once every target has passed
    its checks: a refusal for one (someone else's ``pipes.csv``) leaves every file as it was."""
    items = [(Path(path), data) for path, data in items]
    for path, data in items:
        sample = data[:65536] if isinstance(data, bytes) else data[:65536].encode("utf-8", "replace")
        check_target(path, sniff_bytes(sample))
        if isinstance(data, str):
            _check_same_table(path, data)
    return [write(path, data) for path, data in items]


def sync_directory(folder: Path) -> None:
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
