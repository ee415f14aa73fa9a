"""What the user sees, as one evented model without Qt: layers' display, selection, camera, clock, results.

The window's widgets and the 3D :class:`~app.scene.scene.Scene` both listen to
a :class:`ViewModel` (napari's viewer model is the example): a widget changes
the model, never the scene; the scene redraws because the model says what
changed.  Every part is a psygnal ``EventedModel`` (pydantic-validated, so an
opacity of 1.5 or a NaN time is refused where it is set), and each field
emits ``model.events.<field>`` with its new value.

* ``layers[name]``: :class:`LayerView` — visible, opacity, colour-by (a column
  or a result), colour map and range;
* ``selection``: :class:`Selection` — the picked layer and feature ids;
* ``camera``: :class:`CameraView` — the preset and the named bookmarks;
* ``ground``: :class:`GroundView` — underground mode and vertical exaggeration;
* ``video``: :class:`VideoView` — the cameras' view cones shown or not;
* ``clock``: :class:`ClockView` — clock time, playing, speed, window;
* ``results``: the result series shown per layer (layer -> result name);
  :meth:`ViewModel.show_values` hands the values too (one per feature, by id),
  which is how a clock animates a layer;
* ``highlights``: named sets of features drawn over their layer in one colour
  (the selection, a query's matches, the valves a break needs closed).

:meth:`ViewModel.for_twin` makes the model of a twin (its layers' columns, its
camera bookmarks); :meth:`Scene.bind <app.scene.scene.Scene.bind>` makes a
scene follow it, adding a layer view per layer the scene draws with the look
the scene gives it (airspace see-through, terrain faded).
"""

from __future__ import annotations

import math

from psygnal import EventedModel, Signal
from pydantic import ConfigDict, Field, field_validator


class _View(EventedModel):
    model_config = ConfigDict(validate_assignment=True, extra="forbid", allow_inf_nan=False)


class LayerView(_View):
    name: str
    visible: bool = True
    opacity: float = Field(1.0, ge=0.0, le=1.0)
    colour_by: str | None = None
    cmap: str | None = None
    clim: tuple[float, float] | None = None

    @field_validator("clim")
    @classmethod
    def ordered(cls, v):
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"colour range must go from low to high, not {v}")
        return v


class Selection(_View):
    layer: str | None = None
    feature_ids: tuple[str, ...] = ()


class CameraView(_View):
    preset: str = "oblique"
    bookmarks: dict[str, dict] = Field(default_factory=dict)


class GroundView(_View):
    """How the ground is shown: the underground mode (see-through ground, a window cut into it) and
    the vertical exaggeration of the whole scene."""

    underground: bool = False
    exaggeration: float = Field(1.0, ge=1.0, le=20.0)


class VideoView(_View):
    """Ground video linkage: the cameras' view cones drawn or not."""

    cones: bool = False


class ClockView(_View):
    time: float = 0.0
    start: float = 0.0
    end: float = 0.0
    playing: bool = False
    speed: float = Field(1.0, ge=0.1, le=10_000)
    loop: bool = False
    live: bool = False      # clock time is the wall clock's (live sensors): no seek, speed or loop

    @field_validator("time")
    @classmethod
    def finite(cls, v):
        if not math.isfinite(v):
            raise ValueError("clock time must be a finite number")
        return v


class Highlight(_View):
    layer: str
    ids: tuple[str, ...]
    colour: str = "#ff00ff"
    label: str = ""


class Vehicle(_View):
    """A response unit where the run has it: at its station, sent, on scene or driving back."""

    name: str
    unit_type: str = ""
    status: str = "at_station"
    x: float = 0.0
    y: float = 0.0
    incident: str | None = None


class ViewModel:
    """The whole view state of one twin; every part emits what changed."""

    layer_added = Signal(str)
    results_changed = Signal(str, object)   # layer, result name (None: none shown)
    values_changed = Signal(str, str, object)   # layer, result name, values by feature id (pandas Series)
    highlight_changed = Signal(str)          # highlight name (see ``highlights``)
    vehicles_changed = Signal()              # the response units (see ``vehicles``)

    def __init__(self, layers: list[str] = ()):
        self.layers: dict[str, LayerView] = {}
        self.selection = Selection()
        self.camera = CameraView()
        self.clock = ClockView()
        self.ground = GroundView()
        self.video = VideoView()
        self.results: dict[str, str | None] = {}
        self.values: dict[str, tuple[str, object]] = {}
        self.highlights: dict[str, Highlight] = {}
        #: the response units of the run shown, by name (empty: none)
        self.vehicles: dict[str, Vehicle] = {}
        self.units: dict[tuple[str, str], str] = {}
        self.columns: dict[str, tuple[str, ...]] = {}
        for name in layers:
            self.add_layer(name)

    @classmethod
    def for_twin(cls, twin) -> "ViewModel":
        model = cls()
        model.columns = {name: tuple(c for c in frame.columns if c != "geometry")
                         for name, frame in twin.layers.items() if len(frame)}
        model.camera.bookmarks = dict(twin.metadata.get("camera_bookmarks", {}))
        return model

    def add_layer(self, name: str, **look) -> LayerView:
        if name in self.layers:
            raise ValueError(f"layer {name!r} is already in the view")
        view = self.layers[name] = LayerView(name=name, **look)
        self.layer_added.emit(name)
        return view

    def layer(self, name: str) -> LayerView:
        try:
            return self.layers[name]
        except KeyError:
            raise KeyError(f"no layer {name!r} in the view; layers are {', '.join(self.layers)}") from None

    def show_result(self, layer: str, result: str | None) -> None:
        self.layer(layer)
        self.results[layer] = result
        self.results_changed.emit(layer, result)

    def show_values(self, layer: str, result: str, values, *, unit: str = "", cmap: str | None = None,
                    clim: tuple[float, float] | None = None) -> None:
        """Show ``values`` (a pandas Series by feature id) of ``result`` on ``layer``; colours follow.

        The first call for a result sets the layer's colour-by to it (with ``cmap``,
        ``clim`` and ``unit``); later calls with the same result only send the
        new values, so a playing clock rewrites colours in place.
        """
        view = self.layer(layer)
        self.values[layer] = (result, values)
        self.units[(layer, result)] = unit
        self.values_changed.emit(layer, result, values)
        if self.results.get(layer) != result:
            self.results[layer] = result
            self.results_changed.emit(layer, result)
        if view.colour_by != result or (cmap and view.cmap != cmap) or (clim and view.clim != clim):
            with view.events.blocked():
                view.cmap, view.clim = cmap or view.cmap, clim
            view.colour_by = result

    def clear_values(self, layer: str) -> None:
        """Stop showing a result on ``layer``: back to its own colouring."""
        view = self.layer(layer)
        self.values.pop(layer, None)
        if self.results.get(layer) is not None:
            self.results[layer] = None
            self.results_changed.emit(layer, None)
        if view.colour_by is not None and view.colour_by not in self.columns.get(layer, ()):
            view.colour_by = None

    def highlight(self, name: str, layer: str | None, ids=(), colour: str = "#ff00ff", label: str = "") -> None:
        """Draw features ``ids`` of ``layer`` in ``colour`` as the highlight ``name`` (no ids: remove it)."""
        ids = tuple(str(i) for i in ids)
        if layer is None or not ids:
            if self.highlights.pop(name, None) is not None:
                self.highlight_changed.emit(name)
            return
        self.layer(layer)
        self.highlights[name] = Highlight(layer=layer, ids=ids, colour=colour, label=label)
        self.highlight_changed.emit(name)

    def show_vehicles(self, vehicles: dict) -> None:
        """Show the response units (name -> :class:`Vehicle`, or its fields as a mapping); emits when any moved
        or changed status."""
        new = {name: v if isinstance(v, Vehicle) else Vehicle(name=name, **v) for name, v in vehicles.items()}
        if new != self.vehicles:
            self.vehicles = new
            self.vehicles_changed.emit()

    def select(self, layer: str | None, *feature_ids: str) -> None:
        if layer is not None:
            self.layer(layer)
        self.selection.layer, self.selection.feature_ids = layer, tuple(str(f) for f in feature_ids)
