"""The city model of Lifeline Twin: layers in three domains, terrain, water network, project files.

    >>> from twin import load, save
    >>> city = load("demo.gpkg")
    >>> city["water_pipes"].head()

No Qt here: everything in ``twin`` runs headless.
"""

from twin.errors import LayerError, ProjectError, SourceError, TwinError
from twin.model import Twin
from twin.project import load, save

__all__ = ["Twin", "load", "save", "TwinError", "LayerError", "ProjectError", "SourceError"]
