"""Errors the twin raises on bad input: one message naming the file, layer and field."""


class TwinError(Exception):
    """Base class: the message is complete and meant for the user as is."""


class LayerError(TwinError):
    """A layer does not match its schema (missing column, wrong type, no CRS...)."""


class ProjectError(TwinError):
    """A project file cannot be read or written."""


class SourceError(TwinError):
    """An input file (network, GIS, raster) is missing, malformed or unusable."""


def reading_problem(exc: BaseException) -> str:
    """What went wrong reading a file, in words (for "<file>: cannot read ...: <this>"), never library text."""
    import pandas as pd

    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start:exc.start + 1]
        return (f"not UTF-8 text (byte 0x{byte.hex() if byte else '??'} at position {exc.start}); "
                "save it as UTF-8")
    if isinstance(exc, pd.errors.EmptyDataError):
        return "the file is empty (no header, no rows)"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, pd.errors.ParserError):
        text = " ".join(str(exc).split())
        return f"not a well-formed CSV table ({text[:160]})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:200] or type(exc).__name__
