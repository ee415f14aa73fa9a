"""Errors the twin raises on bad input: one message naming the file, layer and field."""


class TwinError(Exception):
    """Base class: the message is complete and meant for the user as is."""


class LayerError(TwinError):
    """A layer does not match its schema (missing column, wrong type, no CRS...)."""


class ProjectError(TwinError):
    """A project file cannot be read or written."""


class SourceError(TwinError):
    """An input file (network, GIS, raster) is missing, malformed or unusable."""
