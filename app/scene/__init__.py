"""The 3D scene of a twin (PyVista, no Qt): layers, styling, picking, cameras, results, movies.

``Scene(twin)`` renders off screen (CLI, tests, CI); the desktop window passes
its own plotter (``Scene(twin, plotter=interactor)``) and gets the same scene.
"""

from app.scene.camera import PRESETS, CameraPose
from app.scene.palette import Palette
from app.scene.scene import VIEWS, Pick, Scene, SceneLayer, SceneWarning

__all__ = ["PRESETS", "VIEWS", "CameraPose", "Palette", "Pick", "Scene", "SceneLayer", "SceneWarning"]
