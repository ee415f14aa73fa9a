"""The 3D scene of a twin: one actor per layer on any PyVista plotter.

``Scene(twin)`` draws on an off-screen plotter (headless: CI, the CLI, movie
writers); ``Scene(twin, plotter=QtInteractor(...))`` draws the same scene in the
desktop window.  The scene never imports Qt and never knows which it is on.

Each layer is ONE merged mesh (cells tagged with ``feature_index``, the row of
their feature), so 100,000 pipe segments are one actor, picking maps a cell
back to ``(layer, feature id)``, and results are shown by writing per-cell
values in place — no mesh is rebuilt while a clock animates it.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyvista as pv

from app.scene import camera as cameras
from app.scene.frame import SceneFrame, focus_extent
from app.scene.layers import CENTRELINE_SHARE, DRAW_ORDER, STYLES, LayerStyle, build_layer
from app.scene.palette import Palette
from app.scene.terrain import terrain_mesh, window_walls
from twin.schema import DEFAULT_LEC_BANDS, RISK_LEVELS

#: Pale land colours (low green to high tan) so buried networks keep their contrast through it.
TERRAIN_CMAP = ["#b5cf9a", "#cfdca8", "#e3ddb4", "#d9c7a0", "#c9b18e"]
TERRAIN_STYLE = LayerStyle("terrain", "terrain", opacity=0.6)
#: Layers drawn see-through by default are skipped by picking when something solid is behind them.
_SEE_THROUGH = 0.5
#: How near the ray a cell may pass and still be picked, as a share of the picture's diagonal.
PICK_TOLERANCE = 0.002
VIEWS = ("overview", "underground", "risk")
#: The overview shows airspace this many town widths around the town (at least
#: ``MIN_AIRSPACE_REACH`` m): the airport surfaces and no-fly zones that bear on it,
#: cut at that box, not a county's worth of slabs hiding everything.
AIRSPACE_REACH = 2.5
MIN_AIRSPACE_REACH = 3000.0
DEFAULT_TERRAIN_OPACITY = 0.45
#: The overview's ground: see-through enough for the networks under the town to read.
OVERVIEW_TERRAIN_OPACITY = 0.3
#: Point layers too dense to read from a town's height: the overview hides them.
DETAIL_LAYERS = ("water_junctions", "water_valves", "hydrants", "manholes", "septic_tanks", "sensors",
                 "cameras")


#: The legend is a dark panel: every network colour (gas yellow above all) reads on it,
#: where on white VTK's entry-coloured text washed out.
LEGEND_BACKGROUND = "#1e2530"
#: Share of the picture's width left of the legend panel (which sits at its right edge).
LEGEND_LEFT = 0.83
LEGEND_DOMAINS = (("underground", "UNDER THE GROUND"), ("ground", "ON THE GROUND"),
                  ("low_altitude", "LOW-ALTITUDE AIRSPACE"))


def _readable(colour: str) -> tuple[float, float, float]:
    """The colour lightened just enough to read as legend text on the dark panel (VTK draws text in it)."""
    rgb = np.array(pv.Color(colour).float_rgb)
    lum = float(rgb @ [0.2126, 0.7152, 0.0722])
    if lum >= 0.6:
        return tuple(rgb)
    # mix with white until the luminance reaches 0.6: hue kept, contrast on the panel gained
    t = (0.6 - lum) / max(1.0 - lum, 1e-6)
    return tuple(rgb + (1.0 - rgb) * t)


#: Units a schema column's description may name (first word, or last after a comma).
_UNITS = ("m", "mm", "km", "m/s", "km/h", "m3/h", "m³/h", "m3/s", "m³/s", "L/s", "%LEL", "kPa", "MPa", "bar",
          "°C", "s", "min", "h", "%", "dB", "mg/L", "ppm")
_SUFFIX_UNITS = {"_mm": "mm", "_m": "m", "_kmh": "km/h", "_s": "s", "_min": "min", "_h": "h", "_pct": "%"}


def _schema_unit(layer: str, field: str | None) -> str:
    """The unit of a layer's column: from its name (``speed_kmh``) or the schema's description of it
    (``"m above ground"``, ``"ground level, m"``); '' when none is given."""
    if not field:
        return ""
    for suffix, unit in _SUFFIX_UNITS.items():
        if field.endswith(suffix):
            return unit
    try:
        from twin.schema import SCHEMAS

        doc = str(SCHEMAS[layer].columns[field].doc or "").strip()
    except (ImportError, KeyError, AttributeError, TypeError):
        return ""
    words = doc.replace(",", " , ").split()
    for word in (words[:1] + words[-1:]) if words else []:
        if word in _UNITS:
            return word
    return ""


class SceneWarning(UserWarning):
    """A layer or feature could not be drawn (empty layer, invalid geometry); the rest is."""


@dataclass
class SceneLayer:
    """One drawn layer: its mesh, its features' ids, its look."""

    name: str
    mesh: pv.PolyData
    ids: np.ndarray
    style: LayerStyle
    render: dict
    opacity: float
    visible: bool = True
    colour_by: str | None = None
    cmap: str | None = None
    clim: tuple[float, float] | None = None
    categories: dict[str, str] = field(default_factory=dict)
    unit: str = ""
    actor: object = None

    @property
    def feature_index(self) -> np.ndarray:
        return self.mesh.cell_data["feature_index"]

    @property
    def label(self) -> str:
        return self.style.label


@dataclass
class Pick:
    """What is under the cursor: the layer, the feature and its attributes."""

    layer: str
    feature_id: str
    attributes: dict
    position: tuple[float, float, float]  #: twin x, y and true elevation (m)
    cell_id: int


def _prefer_egl_without_display() -> None:
    """With no X display, ask VTK for its EGL render window straight away.

    Otherwise VTK tries X first and logs "bad X server connection. DISPLAY=" on every
    headless render before falling back to EGL by itself.  Only when libEGL is there (a
    forced EGL window without it crashes), and a choice of the user's
    (``VTK_DEFAULT_OPENGL_WINDOW``) stands.
    """
    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY"):
        return
    if "VTK_DEFAULT_OPENGL_WINDOW" in os.environ:
        return
    import ctypes.util

    if ctypes.util.find_library("EGL"):
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"


class Scene:
    """A twin drawn in 3D: layers, colouring, results, picking, cameras, bookmarks."""

    def __init__(self, twin, plotter: pv.Plotter | None = None, *, layers=None,
                 vertical_exaggeration: float = 1.0, underground_scale: float | None = None,
                 palette: Palette | None = None, terrain_opacity: float | None = None,
                 window_size: tuple[int, int] = (1280, 800), anti_aliasing: str | None = None,
                 depth_peeling: bool = False, far_buildings: bool = False):
        self.twin = twin
        #: blocks of buildings merged when seen from far (app/scene/lod.py); the window's choice
        self.far_buildings = bool(far_buildings)
        self._far = None            # FarBuildings of the drawn buildings, when far_buildings
        self._far_source = None     # the buildings' mesh they were made from
        self._far_typical = None    # a typical building's width, m (None: no far look)
        self.depth_peeling = depth_peeling
        self.palette = palette or Palette()
        self.frame = SceneFrame.for_twin(twin, vertical_exaggeration, underground_scale)
        if plotter is None:
            _prefer_egl_without_display()
            plotter = pv.Plotter(off_screen=True, window_size=list(window_size))
        self.plotter = plotter
        self.layers: dict[str, SceneLayer] = {}
        self.bookmarks: dict[str, dict] = dict(twin.metadata.get("camera_bookmarks", {}))
        self.window: tuple[float, float, float, float] | None = None
        # None: the views choose (0.45 built, 0.3 in the overview, 0.35 underground); a number
        # given here is the user's and every view keeps it.
        self._terrain_opacity = DEFAULT_TERRAIN_OPACITY if terrain_opacity is None else float(terrain_opacity)
        self._terrain_opacity_fixed = terrain_opacity is not None
        self._legend = True
        self._highlights: dict[str, tuple[str, int]] = {}
        self._bar_slots: dict[str, int] = {}      # layer -> place of its colour bar (0 at the bottom)
        self.model = None
        self._setup_plotter(anti_aliasing)
        self._build(layers)
        self.camera("oblique")
        # one scene at a time chooses the look of a plotter's buildings (a window draws a new scene on
        # the same plotter when the exaggeration changes)
        previous = getattr(self.plotter, "_far_buildings_observer", None)
        if previous is not None:
            self.plotter.ren_win.RemoveObserver(previous)
            self.plotter._far_buildings_observer = None
        if self.far_buildings:
            self.plotter._far_buildings_observer = self.plotter.ren_win.AddObserver(
                "StartEvent", self._choose_building_look)

    # ------------------------------------------------------------------ building
    def _setup_plotter(self, anti_aliasing: str | None) -> None:
        from vtkmodules.vtkRenderingCore import vtkMapper

        # VTK's coincident-topology mode is one global setting: highlights need polygon offset to be drawn
        # over their layer, and setting it only then changed every picture drawn after the first highlight
        # in a process (a report's incident pictures changed the next scene's).  Every scene sets it.
        vtkMapper.SetResolveCoincidentTopologyToPolygonOffset()
        p = self.plotter
        p.set_background("#f4f1ea", top="#a9c8e8")
        # One key light over the viewer's left shoulder, moving with the camera, instead of
        # VTK's five-light kit: software GL shades every pixel once per light, and five
        # lights cost a fifth of a city's frame for shading nobody misses at town scale.
        p.remove_all_lights()
        p.add_light(pv.Light(position=(-0.4, 0.8, 1.0), focal_point=(0.0, 0.0, 0.0),
                             light_type="camera light", intensity=1.0))
        # Exact ordering of see-through layers (depth peeling) only when asked for: see
        # _update_translucency.
        if self.depth_peeling:
            p.enable_depth_peeling(number_of_peels=4, occlusion_ratio=0.05)
        if anti_aliasing:
            p.enable_anti_aliasing(anti_aliasing)
        else:
            p.disable_anti_aliasing()

    def _build(self, wanted) -> None:
        explicit = wanted is not None
        self._requested = set(wanted or ())
        if explicit:
            wanted = list(wanted)
            known = set(STYLES) | {"terrain"}
            unknown = [w for w in wanted if w not in known]
            if unknown:
                raise KeyError(f"unknown layer {unknown[0]!r}; layers are {', '.join(['terrain', *STYLES])}")
        for name in DRAW_ORDER:
            if explicit and name not in wanted:
                continue
            if name == "terrain":
                if self.twin.terrain is None or self.frame.terrain is None:
                    if explicit:
                        warnings.warn("layer 'terrain': the twin has no terrain; not drawn", SceneWarning,
                                      stacklevel=3)
                    continue
                mesh = terrain_mesh(self.frame)
                sl = SceneLayer("terrain", mesh, np.array(["terrain"]), TERRAIN_STYLE, {},
                                self._terrain_opacity)
                self.layers["terrain"] = sl
                self._draw(sl)
                continue
            frame = self.twin[name]
            if len(frame) == 0:
                if explicit:
                    warnings.warn(f"layer {name!r} is empty; not drawn", SceneWarning, stacklevel=3)
                continue
            built = build_layer(self.frame, name, frame)
            ids = frame["id"].astype(str).to_numpy()
            if len(built.invalid):
                shown = ", ".join(ids[built.invalid[:5]])
                more = f" and {len(built.invalid) - 5} more" if len(built.invalid) > 5 else ""
                warnings.warn(f"layer {name!r}: {len(built.invalid)} feature(s) with empty or invalid "
                              f"geometry not drawn ({shown}{more})", SceneWarning, stacklevel=3)
            if built.mesh.n_cells == 0:
                warnings.warn(f"layer {name!r}: no drawable feature; layer not drawn", SceneWarning,
                              stacklevel=3)
                continue
            style = STYLES[name]
            sl = SceneLayer(name, built.mesh, ids, style, built.render, style.opacity)
            self.layers[name] = sl
            default = style.colour_by
            if default and default in frame.columns and frame[default].fillna("").astype(str).ne("").any():
                self._set_colouring(sl, default, None, None)
            self._draw(sl)
        self._refresh_legend()

    def _draw(self, sl: SceneLayer) -> None:
        p = self.plotter
        kwargs = dict(name=sl.name, opacity=sl.opacity, reset_camera=False, pickable=True,
                      show_scalar_bar=False, **sl.render)
        self._remove_scalar_bars(sl)
        if "line_width" in kwargs and sl.mesh.n_lines and sl.mesh.n_cells > sl.mesh.n_lines:
            # a centre line inside a tube or band: as wide as the picture is tall allows
            kwargs["line_width"] = max(1.5, CENTRELINE_SHARE * self.plotter.window_size[1])
        if sl.style.kind in ("pipe", "sewer"):
            # Seen through the ground, a shaded tube goes muddy: lit mostly flat it keeps its colour.
            kwargs.setdefault("ambient", 0.45)
            kwargs.setdefault("diffuse", 0.65)
        if sl.style.kind == "building":
            # every face points out (see prisms.extrude): the walls facing away cost nothing
            kwargs["culling"] = "back"
            # with one light, walls turned from it would go black: a share of ambient keeps them a colour
            kwargs.setdefault("ambient", 0.3)
            kwargs.setdefault("diffuse", 0.75)
        if sl.name == "terrain":
            sl.mesh.cell_data["__rgb__"] = self._hillshaded(sl.mesh)
            # the relief is in the colours: unlit, the ground costs half as much to draw
            kwargs.update(scalars="__rgb__", rgb=True, lighting=False)
        elif sl.colour_by is None:
            kwargs.update(color=self.palette.layer(sl.name))
        elif sl.categories:
            kwargs.update(scalars="__rgb__", rgb=True)
        else:
            # along the bottom, right of the clock, clear of the legend at the top right; a second
            # coloured layer's bar goes above the first instead of over it
            used = {slot for name, slot in self._bar_slots.items() if name != sl.name}
            slot = self._bar_slots[sl.name] = next(k for k in range(len(self.layers) + 1) if k not in used)
            kwargs.update(scalars=sl.colour_by, cmap=sl.cmap, clim=sl.clim, nan_color=self.palette.missing,
                          show_scalar_bar=True,
                          scalar_bar_args={"title": self._bar_title(sl), "vertical": False,
                                           "position_x": 0.45, "position_y": 0.02 + 0.12 * slot, "height": 0.09,
                                           "width": 0.38, "color": "black", "fmt": "%.4g",
                                           "title_font_size": 14, "label_font_size": 12})
        sl.actor = p.add_mesh(sl.mesh, **kwargs)
        sl.actor.SetVisibility(sl.visible)
        if sl.style.kind == "building" and self.far_buildings:
            self._draw_far(sl, kwargs)
        self._update_translucency()

    # ------------------------------------------------------------------ far buildings (app/scene/lod.py)
    FAR_ACTOR = "buildings (far)"

    def _draw_far(self, sl: SceneLayer, kwargs: dict) -> None:
        """Keep ``sl``'s look for its far blocks; draw them now if they are made and the camera is far.

        The blocks are made the first time the camera is far (:meth:`_choose_building_look`): a window
        that never zooms out pays nothing for them."""
        from app.scene.lod import typical_width

        self._far_look = (sl, kwargs)
        if self._far_source is not sl.mesh:
            self._far, self._far_source = None, sl.mesh
            self._far_typical = typical_width(self.twin[sl.name])
            self.plotter.remove_actor(self.FAR_ACTOR, render=False)
        if self._far is not None:
            self._add_far_actor()

    def _add_far_actor(self) -> None:
        sl, kwargs = self._far_look
        far = self._far
        look = {k: v for k, v in kwargs.items() if k not in ("scalar_bar_args", "name", "pickable")}
        look["show_scalar_bar"] = False
        if "scalars" in look:
            far.mesh.cell_data[look["scalars"]] = far.cells_of(np.asarray(sl.mesh.cell_data[look["scalars"]]))
        actor = self.plotter.add_mesh(far.mesh, name=self.FAR_ACTOR, pickable=False, render=False, **look)
        actor.SetVisibility(sl.visible and far.far)
        sl.actor.SetVisibility(sl.visible and not far.far)

    def _far_actor(self):
        return self.plotter.actors.get(self.FAR_ACTOR) if self._far is not None else None

    def _choose_building_look(self, *_args) -> None:
        """Before each render: the far blocks or the buildings themselves, by the camera's distance
        (the blocks are made the first time they are needed)."""
        from app.scene.lod import far_buildings, looks_far

        look = getattr(self, "_far_look", None)
        if look is None or self._far_typical is None:
            return
        sl = look[0]
        if sl.actor is None or self.layers.get(sl.name) is not sl:
            return
        was = self._far.far if self._far is not None else False
        far = looks_far(self._far_typical, was, self.plotter.camera, self.plotter.window_size[1])
        if self._far is None:
            if not far:
                return
            self._far = far_buildings(self.twin[sl.name], sl.mesh, self.frame.xy)
            if self._far is None:
                self._far_typical = None   # too few buildings to merge: never again
                return
            self._far.far = far
            self._add_far_actor()
        self._far.far = far
        far_actor = self._far_actor()
        if far_actor is None:
            return
        far_actor.SetVisibility(sl.visible and far)
        sl.actor.SetVisibility(sl.visible and not far)
        far_actor.GetProperty().SetOpacity(sl.opacity)
        self._far_ground_and_lines(far)

    #: the far look's ground: a grid of at most this many cells (the near one has up to 60,000 in town)
    FAR_TERRAIN_CELLS = 8_000

    def _far_ground_and_lines(self, far: bool) -> None:
        """With the far blocks, a coarser ground (no underground window open) and pipes and sewers drawn
        one pixel wide: on software GL their wide lines and the fine ground cost as much as the blocks."""
        terrain = self.layers.get("terrain")
        if terrain is not None and terrain.actor is not None:
            mapper = terrain.actor.GetMapper()
            if far and self.window is None:
                coarse = getattr(self, "_far_terrain", None)
                if coarse is None or coarse[0] is not terrain.mesh:
                    from app.scene.terrain import terrain_mesh

                    mesh = terrain_mesh(self.frame, max_cells=self.FAR_TERRAIN_CELLS,
                                        town_cells=self.FAR_TERRAIN_CELLS)
                    mesh.cell_data["__rgb__"] = self._hillshaded(mesh)
                    coarse = self._far_terrain = (terrain.mesh, mesh)
                if mapper.GetInput() is not coarse[1]:
                    mapper.SetInputData(coarse[1])
            elif mapper.GetInput() is not terrain.mesh:
                mapper.SetInputData(terrain.mesh)
        for sl in self.layers.values():
            if sl.style.kind in ("pipe", "sewer") and sl.actor is not None and "line_width" in sl.render:
                width = 1.0 if far else float(sl.render["line_width"])
                if sl.actor.GetProperty().GetLineWidth() != width:
                    sl.actor.GetProperty().SetLineWidth(width)

    @property
    def buildings_far(self) -> bool:
        """Whether the buildings are drawn as far blocks now (as of the last render)."""
        return self._far is not None and self._far.far and self._far_actor() is not None

    def _update_translucency(self) -> None:
        """How see-through layers are blended: plainly for one, order-independently for more.

        One see-through ground over opaque pipes and houses needs no sorting:
        plain blending draws it right.  Two or more (ground, roads, airspace,
        corridors) overlap and need ordering: VTK's weighted order-independent
        blending does it in one pass, where depth peeling draws every
        see-through layer once per peel (measured on the demo city on software
        GL: 360 ms a frame peeled, 160 ms blended, 2-3 % of pixels visibly
        different).  ``depth_peeling=True`` buys the exact order (a GPU pays
        little for it).
        """
        see_through = sum(1 for sl in self.layers.values()
                          if sl.visible and sl.actor is not None and sl.opacity < 1.0)
        renderer = self.plotter.renderer
        renderer.SetUseDepthPeeling(self.depth_peeling and see_through >= 2)
        renderer.SetUseOIT(not self.depth_peeling and see_through >= 2)

    def _hillshaded(self, mesh: pv.PolyData) -> np.ndarray:
        """Per-cell RGB of the ground: its height's land colour, shaded by a sun in the north-west.

        Map makers light relief from the north-west at 45 degrees; baking that
        shade into the colours lets the renderer draw the ground unlit (on
        software GL, lighting is half the cost of the ground's frame).  Soil
        walls of an underground window (elevation NaN) get the soil colour,
        shaded the same way.
        """
        from matplotlib.colors import LinearSegmentedColormap

        normals = mesh.compute_normals(cell_normals=True, point_normals=False, split_vertices=False,
                                       auto_orient_normals=False, consistent_normals=False,
                                       inplace=False).cell_data["Normals"]
        # the grid may be wound either way: ground faces point up, walls keep their side
        normals = np.where(normals[:, 2:3] < 0, -normals, normals)
        sun = np.array([-0.5, 0.5, np.sqrt(0.5)])
        shade = np.clip(0.55 + 0.5 * np.clip(normals @ sun, 0.0, None), 0.0, 1.1)
        elevation = np.asarray(mesh.cell_data["elevation"], dtype=float)
        lo, hi = self._terrain_clim()
        t = np.clip((elevation - lo) / (hi - lo), 0.0, 1.0)
        land = LinearSegmentedColormap.from_list("land", TERRAIN_CMAP)(np.nan_to_num(t))[:, :3]
        land[~np.isfinite(elevation)] = pv.Color(self.palette.soil).float_rgb
        return (np.clip(land * shade[:, None], 0.0, 1.0) * 255).round().astype(np.uint8)

    def _terrain_clim(self) -> tuple[float, float]:
        h = self.frame._filled_terrain.heights
        lo, hi = float(np.nanmin(h)), float(np.nanmax(h))
        return lo, hi + 1e-6

    @staticmethod
    def _bar_title(sl: SceneLayer) -> str:
        """The colour bar's title: what is coloured and in which unit, e.g. ``junctions: pressure (m)``."""
        unit = f" ({sl.unit})" if sl.unit else ""
        return f"{sl.label}: {str(sl.colour_by).replace('_', ' ')}{unit}"

    def _remove_scalar_bars(self, sl: SceneLayer) -> None:
        self._bar_slots.pop(sl.name, None)
        if sl.colour_by is None:
            return
        title = self._bar_title(sl)
        if title in self.plotter.scalar_bars:
            self.plotter.remove_scalar_bar(title)

    # ------------------------------------------------------------------ styling
    def layer(self, name: str) -> SceneLayer:
        try:
            return self.layers[name]
        except KeyError:
            drawn = ", ".join(self.layers) or "none"
            raise KeyError(f"layer {name!r} is not in the scene (drawn layers: {drawn})") from None

    def _view(self, name: str):
        """The model's view of layer ``name`` when the scene is bound to a model, else None."""
        return self.model.layers.get(name) if self.model is not None else None

    def show(self, name: str, visible: bool = True) -> None:
        """Show (or hide) a layer; on a bound scene through the model, so every listener sees it."""
        view = self._view(name)
        if view is not None:
            self.layer(name)
            view.visible = bool(visible)   # the model's event draws it (nothing when unchanged)
            return
        self._show(name, visible)

    def _show(self, name: str, visible: bool) -> None:
        sl = self.layer(name)
        sl.visible = bool(visible)
        sl.actor.SetVisibility(sl.visible)
        if sl.style.kind == "building" and self._far_actor() is not None:
            self._choose_building_look()
        self._update_translucency()
        self._refresh_legend()

    def hide(self, name: str) -> None:
        self.show(name, False)

    def set_opacity(self, name: str, opacity: float) -> None:
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity of layer {name!r} must be between 0 and 1, got {opacity}")
        view = self._view(name)
        if view is not None:
            self.layer(name)
            view.opacity = float(opacity)
            return
        self._set_opacity(name, opacity)

    def _set_opacity(self, name: str, opacity: float) -> None:
        sl = self.layer(name)
        sl.opacity = float(opacity)
        sl.actor.GetProperty().SetOpacity(sl.opacity)
        self._update_translucency()

    def color_by(self, name: str, field: str | None, cmap: str | None = None,
                 clim: tuple[float, float] | None = None, unit: str | None = None) -> None:
        """Colour a layer by a column or result array (``None``: its own colour).

        Text columns are categorical (``risk_level`` always in the four warning
        colours, with their key in the legend); numbers use ``cmap`` (default
        viridis) over ``clim`` (default the values' range) with a colour bar
        titled with ``unit`` (default: the unit the twin's schema gives the column).
        On a bound scene the choice goes into the model, which redraws the layer.
        """
        view = self._view(name)
        if view is not None:
            sl = self.layer(name)
            if field is not None:
                self._feature_values(sl, field)   # an unknown field is refused here, before the model changes
            if unit is not None and field is not None:
                self.model.units[(name, field)] = unit
            with view.events.blocked():
                view.colour_by, view.cmap, view.clim = field, cmap, clim
            view.events.colour_by.emit(field)   # once, for every listener, whatever changed
            return
        self._color_by(name, field, cmap, clim, unit)

    def _color_by(self, name: str, field: str | None, cmap: str | None = None,
                  clim: tuple[float, float] | None = None, unit: str | None = None) -> None:
        sl = self.layer(name)
        self._remove_scalar_bars(sl)
        self._set_colouring(sl, field, cmap, clim)
        sl.unit = unit if unit is not None else _schema_unit(name, field)
        self._draw(sl)
        self._refresh_legend()

    def _feature_values(self, sl: SceneLayer, field: str) -> np.ndarray | pd.Series:
        frame = self.twin[sl.name]
        if field in frame.columns and field != "geometry":
            return frame[field]
        if field in sl.mesh.cell_data.keys() and field not in ("feature_index", "__rgb__"):
            return None
        columns = [c for c in frame.columns if c != "geometry"]
        raise KeyError(f"layer {sl.name!r} has no column or result {field!r} "
                       f"(columns: {', '.join(columns)})")

    def _set_colouring(self, sl: SceneLayer, field: str | None, cmap, clim) -> None:
        sl.colour_by, sl.categories, sl.cmap, sl.clim, sl.unit = None, {}, None, None, ""
        if field is None:
            return
        values = self._feature_values(sl, field)
        fi = sl.feature_index
        if values is not None and (values.dtype == object or str(values.dtype) in ("string", "str")):
            text = values.fillna("").astype(str).to_numpy()
            present = [v for v in (RISK_LEVELS if field == "risk_level" else sorted(set(text))) if v]
            colours = self.palette.categorical(field, present)
            lut = {**colours, "": self.palette.missing}
            rgb_by_feature = np.array([pv.Color(lut.get(v, self.palette.missing)).int_rgb for v in text],
                                      dtype=np.uint8).reshape(-1, 3)
            sl.mesh.cell_data["__rgb__"] = rgb_by_feature[fi]
            sl.categories = {v: colours[v] for v in present if v in set(text)}
            if (text == "").any():
                sl.categories["(none)"] = self.palette.missing
            sl.colour_by = field
            return
        if values is not None:
            numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if numeric.dtype.kind == "b":
                numeric = numeric.astype(float)
            sl.mesh.cell_data[field] = numeric[fi]
        data = np.asarray(sl.mesh.cell_data[field], dtype=float)
        finite = data[np.isfinite(data)]
        if clim is None:
            clim = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
            if clim[0] == clim[1]:
                clim = (clim[0] - 0.5, clim[1] + 0.5)
        sl.colour_by, sl.cmap, sl.clim = field, cmap or "viridis", (float(clim[0]), float(clim[1]))

    # ------------------------------------------------------------------ results
    def set_result(self, name: str, result: str, values) -> None:
        """Write one value per feature of layer ``name`` into result array ``result``, in place.

        ``values`` is a sequence in the layer's row order, or a pandas Series
        indexed by feature id (missing ids become NaN).  The first call creates
        the cell array; later calls overwrite it without touching the mesh, so a
        clock can call this every frame.
        """
        sl = self.layer(name)
        if isinstance(values, pd.Series):
            values = values.reindex(sl.ids).to_numpy(dtype=float, na_value=np.nan)
        values = np.asarray(values, dtype=float)
        if values.shape != (len(sl.ids),):
            raise ValueError(f"result {result!r} for layer {name!r} has {values.shape[0] if values.ndim else 1} "
                             f"values; the layer has {len(sl.ids)} features")
        cells = sl.mesh.GetCellData()
        if sl.style.kind == "building" and self._far is not None and self._far_source is sl.mesh:
            far = self._far
            far.mesh.cell_data[result] = values[far.representative][far.mesh.cell_data["block_index"]]
        if cells.GetArray(result) is None:
            sl.mesh.cell_data[result] = values[sl.feature_index]
            return
        # Write through a view of the VTK array itself: no copy, no new array, no rebuild.
        np.take(values, sl.feature_index, out=sl.mesh.cell_data[result])
        cells.GetArray(result).Modified()
        sl.mesh.Modified()

    def highlight(self, name: str, layer: str | None, ids=(), colour: str = "#ff00ff") -> None:
        """Draw features ``ids`` of ``layer`` over it in ``colour`` as the overlay ``name`` (no layer: remove).

        One actor per highlight, drawn in front of the layer's own surfaces and
        lines (VTK's coincident-topology offset), never picked.
        """
        actor_name = f"highlight:{name}"
        if layer is None or not len(ids):
            self.plotter.remove_actor(actor_name, render=False)
            self._highlights.pop(name, None)
            return
        sl = self.layer(layer)
        wanted = np.isin(sl.ids, np.asarray([str(i) for i in ids]))
        cells = np.flatnonzero(wanted[sl.feature_index])
        if not len(cells):
            self.plotter.remove_actor(actor_name, render=False)
            self._highlights.pop(name, None)
            return
        part = sl.mesh.extract_cells(cells).extract_surface(pass_pointid=False, pass_cellid=False, algorithm="dataset_surface")
        style = sl.render
        actor = self.plotter.add_mesh(
            part, name=actor_name, color=colour, opacity=1.0, reset_camera=False, pickable=False,
            show_scalar_bar=False, lighting=False,
            line_width=max(4.0, float(style.get("line_width", 2.0)) * 2.0),
            point_size=max(12.0, float(style.get("point_size", 6.0)) * 1.8),
            render_points_as_spheres=bool(style.get("render_points_as_spheres", False)), render=False)
        mapper = actor.GetMapper()   # pulled towards the eye (the global offset mode: _setup_plotter)
        mapper.SetRelativeCoincidentTopologyPolygonOffsetParameters(-2, -2)
        mapper.SetRelativeCoincidentTopologyLineOffsetParameters(-2, -2)
        mapper.SetRelativeCoincidentTopologyPointOffsetParameter(-2)
        self._highlights[name] = (layer, int(wanted.sum()))

    def view_cones(self, show: bool = True) -> None:
        """Draw (or remove) every camera's view wedge, flat and see-through, just over the ground."""
        name = "__camera_cones__"
        cams = self.twin.layers.get("cameras")
        if not show or cams is None or not len(cams):
            self.plotter.remove_actor(name, render=False)
            return
        from simulation.sensors.video import view_cones

        parts = []
        for cone in view_cones(cams):
            xy = np.asarray(cone.exterior.coords)[:-1]
            sx, sy = self.frame.xy(xy[:, 0], xy[:, 1])
            z = np.broadcast_to(np.asarray(self.frame.ground_z(xy[:, 0], xy[:, 1]), dtype=float) + 1.0, sx.shape)
            pts = np.column_stack([sx, sy, z])
            faces = np.concatenate([[len(pts)], np.arange(len(pts))])
            parts.append(pv.PolyData(pts, faces=faces))
        mesh = pv.merge(parts) if len(parts) > 1 else parts[0]
        self.plotter.add_mesh(mesh, name=name, color="#6a3d9a", opacity=0.25, pickable=False, reset_camera=False,
                              lighting=False, show_scalar_bar=False, render=False)

    @property
    def highlighted(self) -> dict[str, tuple[str, int]]:
        """The highlights drawn: name -> (layer, number of features)."""
        return dict(self._highlights)

    # ------------------------------------------------------------------ legend
    def legend(self, show: bool = True) -> None:
        self._legend = show
        self._refresh_legend()

    def _refresh_legend(self) -> None:
        p = self.plotter
        if p.legend is not None:
            p.remove_legend()
        if not self._legend:
            return
        from twin.schema import LAYER_DOMAINS

        grouped: dict[str, list] = {d: [] for d, _ in LEGEND_DOMAINS}
        for name in DRAW_ORDER:
            sl = self.layers.get(name)
            if sl is None or not sl.visible or name == "terrain":
                continue
            rows = grouped.setdefault(LAYER_DOMAINS.get(name, "ground"), [])
            if sl.colour_by == "risk_level" and sl.categories:
                # the four warning colours need no key: one line says what they mean here
                worst = next(iter(sl.categories.values()))
                rows.append([f"{sl.label} by risk level", _readable(worst), "rectangle"])
            elif sl.categories:
                prefix = "" if name == "airspace_zones" else f"{sl.label}: "
                for cat, colour in sl.categories.items():
                    rows.append([f"{prefix}{cat.replace('_', ' ')}", _readable(colour), "rectangle"])
            elif sl.colour_by is None:
                rows.append([sl.label, _readable(self.palette.layer(name)), "rectangle"])
        entries = []
        titles = dict(LEGEND_DOMAINS)
        for domain, rows in grouped.items():
            if rows:
                entries.append([titles.get(domain, domain.upper()), (1.0, 1.0, 1.0), "none"])
                entries.extend(rows)
        entries.extend(self.risk_key())
        if entries:
            height = min(0.026 * len(entries) + 0.01, 0.9)
            legend = p.add_legend(entries, bcolor=LEGEND_BACKGROUND, border=False, face="rectangle",
                                  size=(0.16, height), background_opacity=0.78)
            # Top right corner, whatever the window's aspect (PyVista's ``loc`` centres narrow legends).
            legend.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            legend.SetPosition(LEGEND_LEFT + 0.005, 0.99 - height)
            legend.SetPosition2(0.16, height)

    def risk_key(self) -> list[list]:
        """Legend rows saying what each warning colour means, when a shown layer is coloured by risk level:
        a heading, then red, orange, yellow, blue with the project's LEC bands (D = L x E x C)."""
        shown = [sl for sl in self.layers.values()
                 if sl.visible and sl.colour_by == "risk_level" and sl.categories]
        if not shown:
            return []
        bands = dict(getattr(self.twin, "lec_bands", None) or DEFAULT_LEC_BANDS)
        ranges = {"red": f"D > {bands['red']:g}", "orange": f"D {bands['orange']:g}-{bands['red']:g}",
                  "yellow": f"D {bands['yellow']:g}-{bands['orange']:g}", "blue": f"D up to {bands['yellow']:g}"}
        rows = [["RISK LEVEL (LEC)", (1.0, 1.0, 1.0), "none"]]
        for level in RISK_LEVELS:
            rows.append([f"{level}: {ranges[level]}", _readable(self.palette.risk[level]), "rectangle"])
        if any("(none)" in sl.categories for sl in shown):
            rows.append(["grey: no level", _readable(self.palette.missing), "rectangle"])
        return rows

    # ------------------------------------------------------------------ cameras
    def scene_bounds(self) -> tuple[float, ...]:
        """Bounds of what a camera should frame: everything but airspace (which can reach far)."""
        core = [sl.mesh.bounds for n, sl in self.layers.items()
                if n not in ("airspace_zones", "drone_corridors", "drone_tracks") and sl.mesh.n_cells]
        if not core:
            core = [sl.mesh.bounds for sl in self.layers.values() if sl.mesh.n_cells]
        if not core:
            return (-1.0, 1.0, -1.0, 1.0, 0.0, 1.0)
        b = np.array(core, dtype=float)
        return (b[:, 0].min(), b[:, 1].max(), b[:, 2].min(), b[:, 3].max(), b[:, 4].min(), b[:, 5].max())

    def focus_bounds(self) -> tuple[float, ...]:
        """Bounds the oblique, street and underground cameras frame: the town when there is one."""
        full = self.scene_bounds()
        fx = focus_extent(self.twin)
        if fx is None:
            return full
        x0, y0 = self.frame.xy(fx[0], fx[1])
        x1, y1 = self.frame.xy(fx[2], fx[3])
        return (float(x0), float(x1), float(y0), float(y1), full[4], full[5])

    def _underground_z(self) -> float | None:
        zs = [sl.mesh.bounds for n, sl in self.layers.items()
              if STYLES.get(n) and STYLES[n].kind in ("pipe", "sewer")]
        if not zs:
            return None
        return float(np.mean([(b[4] + b[5]) / 2 for b in zs]))

    def bind(self, model) -> "Scene":
        """Follow an :class:`app.view_model.ViewModel`: the scene draws what the model says, when it says it.

        The model's present state is drawn at once (layers the scene draws and
        the model lacks are added to the model with their current look); from
        then on every change of a layer's visibility, opacity or colouring and
        of the camera preset redraws only what changed.
        """
        self.model = model
        for name, sl in self.layers.items():
            if name not in model.layers:
                model.add_layer(name, visible=sl.visible, opacity=sl.opacity)
        for name, view in model.layers.items():
            if name in self.layers:
                self._follow(name, view)
        model.layer_added.connect(lambda name: name in self.layers and self._follow(name, model.layer(name)))
        model.camera.events.preset.connect(self.camera)
        model.ground.events.underground.connect(self._on_underground)
        if model.ground.underground:
            self._on_underground(True)
        model.video.events.cones.connect(self.view_cones)
        if model.video.cones:
            self.view_cones(True)
        model.values_changed.connect(self._on_values)
        model.highlight_changed.connect(self._on_highlight)
        model.vehicles_changed.connect(lambda: self.draw_vehicles(model.vehicles))
        if model.vehicles:
            self.draw_vehicles(model.vehicles)
        for layer, (result, values) in model.values.items():
            self._on_values(layer, result, values)
        for name in model.highlights:
            self._on_highlight(name)
        self.camera(model.camera.preset)
        self.plotter.render()
        return self

    # ------------------------------------------------------------------ response units
    VEHICLES = "response units"
    #: a unit's colour by its status
    VEHICLE_COLOURS = {"at_station": "#969696", "dispatched": "#fd8d3c", "on_scene": "#d7191c",
                       "returning": "#2c7bb6"}

    def draw_vehicles(self, vehicles: dict) -> None:
        """The response units as blocks 10 x 8 x 8 m on the ground, coloured by status (one actor, not picked:
        :meth:`vehicle_at` finds the unit under the cursor), beside where the run has them (a station's marker
        stands on that point); several at one place stand in rows of four."""
        import pyvista as pv

        self._vehicles = dict(vehicles)
        self._vehicle_xyz = {}
        if not vehicles:
            self.plotter.remove_actor(self.VEHICLES, render=False)
            return
        f = self.frame
        blocks, colours, placed = [], [], {}
        for name in sorted(vehicles):
            v = vehicles[name]
            key = (round(v.x), round(v.y))
            k = placed[key] = placed.get(key, -1) + 1
            x, y = f.xy(np.array([v.x]), np.array([v.y]))
            z = float(f.z(np.nan_to_num(f.ground(np.array([v.x]), np.array([v.y]))))[0])
            # beside the point (a station's marker stands on it), in rows of four
            cx, cy = float(x[0]) + 24.0 + 12.0 * (k % 4), float(y[0]) + 12.0 * (k // 4)
            box = pv.Box((cx - 5, cx + 5, cy - 4, cy + 4, z, z + 8))
            blocks.append(box)
            colours.append(np.tile(pv.Color(self.VEHICLE_COLOURS.get(v.status, "#969696")).int_rgb, (box.n_cells, 1)))
            self._vehicle_xyz[name] = (cx, cy, z + 4.0)
        mesh = pv.merge(blocks)
        mesh.cell_data["__rgb__"] = np.vstack(colours).astype(np.uint8)
        self.plotter.add_mesh(mesh, name=self.VEHICLES, scalars="__rgb__", rgb=True, pickable=False,
                              reset_camera=False, render=False, lighting=False)

    def vehicle_at(self, x: float, y: float, tolerance_px: float = 12.0) -> str | None:
        """The response unit drawn within ``tolerance_px`` of display pixel (x, y), the nearest (None: none)."""
        import vtk

        best = None
        coord = vtk.vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        for name in getattr(self, "_vehicles", {}):
            coord.SetValue(*self._vehicle_xyz[name])
            dx, dy = coord.GetComputedDoubleDisplayValue(self.plotter.renderer)
            d = float(np.hypot(dx - x, dy - y))
            if d <= tolerance_px and (best is None or d < best[0]):
                best = (d, name)
        return None if best is None else best[1]

    def vehicle_position(self, name: str) -> tuple[float, float]:
        """Display pixel of a response unit as drawn (where a click lands on it)."""
        import vtk

        coord = vtk.vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        coord.SetValue(*self._vehicle_xyz[name])
        dx, dy = coord.GetComputedDoubleDisplayValue(self.plotter.renderer)
        return float(dx), float(dy)

    def _on_underground(self, on: bool) -> None:
        """Underground mode: the ground see-through with a window cut into it, what stands on it faded.

        The opacities go through the model (the layer tree shows them); leaving the
        mode puts back the opacities the layers had before it.
        """
        model = self.model
        if on:
            self._before_underground = {n: model.layers[n].opacity for n in ("terrain", "buildings", "roads", "sites")
                                        if n in model.layers and n in self.layers}
            for layer, opacity in (("terrain", 0.25), ("buildings", 0.2), ("roads", 0.35), ("sites", 0.4)):
                if layer in self._before_underground:
                    model.layers[layer].opacity = min(model.layers[layer].opacity, opacity)
            self.underground_window("auto")
        else:
            for layer, opacity in getattr(self, "_before_underground", {}).items():
                model.layers[layer].opacity = opacity
            self.underground_window(None)

    def _on_values(self, layer: str, result: str, values) -> None:
        if layer in self.layers:
            self.set_result(layer, result, values)

    def _on_highlight(self, name: str) -> None:
        h = self.model.highlights.get(name)
        if h is None or h.layer not in self.layers:
            self.highlight(name, None)
        else:
            self.highlight(name, h.layer, h.ids, h.colour)

    def _follow(self, name: str, view) -> None:
        sl = self.layers[name]
        if view.visible != sl.visible:
            self._show(name, view.visible)
        if view.opacity != sl.opacity:
            self._set_opacity(name, view.opacity)
        def recolour(_v=None, view=view):
            unit = self.model.units.get((name, view.colour_by)) if view.colour_by else None
            self._color_by(name, view.colour_by, view.cmap, view.clim, unit=unit)

        if view.colour_by is not None:
            recolour()
        elif sl.colour_by is not None:
            # the layer's own default colouring (risk levels, uses) is what the model shows
            with view.events.blocked():
                view.colour_by, view.cmap, view.clim = sl.colour_by, sl.cmap, sl.clim
        view.events.visible.connect(lambda v: self._show(name, v))
        view.events.opacity.connect(lambda v: self._set_opacity(name, v))
        for field in ("colour_by", "cmap", "clim"):
            getattr(view.events, field).connect(recolour)

    def camera(self, preset: str) -> None:
        """Go to a camera preset (``top``, ``oblique``, ``street``, ``underground``) or a bookmark."""
        if preset in self.bookmarks:
            return self.go_to(preset)
        if preset not in cameras.PRESETS:
            raise ValueError(f"unknown camera {preset!r} (presets: {', '.join(cameras.PRESETS)}"
                             + (f"; bookmarks: {', '.join(self.bookmarks)}" if self.bookmarks else "") + ")")
        bounds = self.scene_bounds() if preset == "top" else self.focus_bounds()
        cx, cy = (bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2
        ground = float(self.frame.ground_z(cx + self.frame.origin[0], cy + self.frame.origin[1]))
        w, h = self.plotter.window_size
        pose = cameras.preset(preset, bounds, ground, self._underground_z(), aspect=w / max(h, 1))
        if preset == "street":
            px, py = pose.position[0], pose.position[1]
            gz = float(self.frame.ground_z(px + self.frame.origin[0], py + self.frame.origin[1]))
            lift = pose.position[2] - ground
            pose.position = (px, py, gz + lift)
        self._apply(pose)

    def _apply(self, pose: cameras.CameraPose) -> None:
        cam = self.plotter.camera
        cam.position = pose.position
        cam.focal_point = pose.focal_point
        cam.up = pose.view_up
        cam.view_angle = pose.view_angle
        self.plotter.renderer.ResetCameraClippingRange()

    def pose(self) -> cameras.CameraPose:
        """The current camera, in twin coordinates (so it survives a change of scene origin)."""
        cam = self.plotter.camera
        return cameras.CameraPose(self.frame.to_twin(cam.position), self.frame.to_twin(cam.focal_point),
                                  tuple(cam.up), float(cam.view_angle))

    def bookmark(self, name: str) -> dict:
        """Remember the current camera as ``name``; returns the JSON-able bookmark.

        Store ``scene.bookmarks`` in ``twin.metadata["camera_bookmarks"]`` to keep them in the project.
        """
        self.bookmarks[name] = self.pose().as_dict()
        return self.bookmarks[name]

    def go_to(self, name: str) -> None:
        if name not in self.bookmarks:
            raise KeyError(f"no camera bookmark {name!r} (bookmarks: {', '.join(self.bookmarks) or 'none'})")
        self.go_to_pose(cameras.CameraPose.from_dict(self.bookmarks[name], f"camera bookmark {name!r}"))

    # ------------------------------------------------------------------ underground window
    def underground_window(self, bounds: tuple[float, float, float, float] | None = "auto") -> None:
        """Cut the terrain over ``bounds`` (twin minx, miny, maxx, maxy) to look into the ground.

        ``"auto"`` opens the middle of the pipe network; ``None`` closes the window.
        """
        if "terrain" not in self.layers:
            return
        if isinstance(bounds, str):
            b = self.focus_bounds()
            ox, oy = self.frame.origin
            cx, cy = (b[0] + b[1]) / 2 + ox, (b[2] + b[3]) / 2 + oy
            hw, hh = (b[1] - b[0]) * 0.22, (b[3] - b[2]) * 0.22
            bounds = (cx - hw, cy - hh, cx + hw, cy + hh)
        sl = self.layers["terrain"]
        self.window = tuple(map(float, bounds)) if bounds is not None else None
        mesh = terrain_mesh(self.frame, self.window)
        if self.window is not None:
            # Deep enough for a 6 m sewer drawn at the scene's depth scale, measured from the local ground.
            depth = 6.0 * self.frame.depth_scale + self.frame.underground
            walls = window_walls(self.frame, self.window, depth)
            walls.cell_data["elevation"] = np.full(walls.n_cells, np.nan)
            mesh = pv.merge([mesh, walls], merge_points=False)
        sl.mesh = mesh
        self._draw(sl)

    # ------------------------------------------------------------------ airspace reach
    def airspace_box(self) -> tuple[float, float, float, float] | None:
        """The box (twin minx, miny, maxx, maxy) of airspace the overview shows: around the town."""
        fx = focus_extent(self.twin)
        if fx is None:
            return None
        cx, cy = (fx[0] + fx[2]) / 2, (fx[1] + fx[3]) / 2
        r = max(AIRSPACE_REACH * max(fx[2] - fx[0], fx[3] - fx[1]), MIN_AIRSPACE_REACH)
        return (cx - r, cy - r, cx + r, cy + r)

    def clip_airspace(self, bounds: tuple[float, float, float, float] | None) -> None:
        """Draw only the part of each airspace zone inside ``bounds`` (twin box; None: whole zones).

        An airport's inner horizontal surface is 8 km across; cut to the box round
        the town, its edge and the approach steps over the town still show.
        """
        sl = self.layers.get("airspace_zones")
        if sl is None:
            return
        import shapely

        frame = self.twin["airspace_zones"]
        if bounds is not None:
            frame = frame.copy()
            geoms = np.asarray(frame.geometry.values, dtype=object)
            present = np.array([g is not None for g in geoms], dtype=bool)
            cut = shapely.intersection(np.where(present, geoms, shapely.Polygon()), shapely.box(*bounds))
            # lines and points left where a zone only touches the box are not volumes
            cut = np.where(shapely.area(cut) > 0, cut, shapely.Polygon())
            frame = frame.set_geometry(list(cut), crs=frame.crs)
        mesh = build_layer(self.frame, "airspace_zones", frame).mesh
        for name in list(sl.mesh.cell_data.keys()):
            if name != "feature_index":
                # colours and results follow their feature onto the cut mesh
                mesh.cell_data[name] = self._per_feature(sl, name)[mesh.cell_data["feature_index"]]
        sl.mesh = mesh
        self._draw(sl)

    @staticmethod
    def _per_feature(sl: SceneLayer, name: str) -> np.ndarray:
        """One value per feature of cell array ``name`` (each feature's first cell's)."""
        values = np.asarray(sl.mesh.cell_data[name])
        out = np.zeros((len(sl.ids),) + values.shape[1:], dtype=values.dtype)
        if np.issubdtype(values.dtype, np.floating):
            out[:] = np.nan
        out[sl.feature_index[::-1]] = values[::-1]
        return out

    def overview_pose(self) -> cameras.CameraPose:
        """The overview's camera: the whole town in the picture, and as many kinds of airspace as fit.

        Tries the variations of ``camera.overview`` (turned, raised, backed off,
        aimed nearer) and keeps the one that shows the most kinds of airspace
        zone (no-fly, airport surface, ...) with the whole town inside the
        picture (left of the legend), preferring the one where the town is
        largest.  Airport surfaces kilometres away and a no-fly zone beside the
        town then share the picture when any camera can show both.
        """
        b = self.focus_bounds()
        ox, oy = self.frame.origin
        cx, cy = (b[0] + b[1]) / 2, (b[2] + b[3]) / 2
        ground = float(self.frame.ground_z(cx + ox, cy + oy))
        w, h = self.plotter.window_size
        aspect = w / max(h, 1)
        towards = self._airspace_focus()
        first = cameras.overview(b[:4], ground, towards, aspect=aspect)
        if towards is None:
            return first
        corners = np.array([(x, y, float(self.frame.ground_z(x + ox, y + oy)))
                            for x in (b[0], b[1]) for y in (b[2], b[3])])
        marks = self._airspace_marks()
        kinds = np.array([k for k, _ in marks], dtype=object)
        mark_xyz = np.array([xyz for _, xyz in marks], dtype=float).reshape(-1, 3)
        points = np.vstack([corners, mark_xyz])
        cam = self.plotter.camera
        saved = self.pose()
        best, best_score = first, None
        try:
            for turn in cameras.OVERVIEW_TURNS:
                for elevation in cameras.OVERVIEW_ELEVATIONS:
                    for distance in cameras.OVERVIEW_DISTANCES:
                        for lead in cameras.OVERVIEW_LEADS:
                            pose = cameras.overview(b[:4], ground, towards, aspect=aspect, turn=turn,
                                                    elevation=elevation, distance=distance, lead=lead)
                            self._apply(pose)
                            px, py, ahead = self._project(cam, points, w, h)
                            tx, ty = px[:4], py[:4]
                            if not ahead[:4].all() or (tx < 0).any() or (tx > LEGEND_LEFT * w).any() \
                                    or (ty < 0).any() or (ty > h).any():
                                continue
                            mx, my = px[4:], py[4:]
                            # well inside: not at an edge, not under the caption's lines
                            inside = ahead[4:] & (mx >= 0.06 * w) & (mx <= (LEGEND_LEFT - 0.04) * w) \
                                & (my >= 0.08 * h) & (my <= 0.86 * h)
                            score = (len(set(kinds[inside])), float(np.ptp(tx)))
                            if best_score is None or score > best_score:
                                best, best_score = pose, score
        finally:
            self.go_to_pose(saved)
        return best

    @staticmethod
    def _project(cam, points: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Display x, y of scene points under camera ``cam`` and whether each is in front of it."""
        m = cam.GetCompositeProjectionTransformMatrix(w / max(h, 1), -1.0, 1.0)
        mat = np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)])
        clip = np.column_stack([points, np.ones(len(points))]) @ mat.T
        ahead = clip[:, 3] > 0
        wq = np.where(ahead, clip[:, 3], 1.0)
        return (clip[:, 0] / wq + 1.0) / 2.0 * w, (clip[:, 1] / wq + 1.0) / 2.0 * h, ahead

    def _airspace_marks(self) -> list[tuple[str, tuple[float, float, float]]]:
        """(kind, scene x, y, z) of each drawn airspace zone: its middle, half way up."""
        sl = self.layers.get("airspace_zones")
        if sl is None or not sl.visible or sl.mesh.n_cells == 0:
            return []
        zones = self.twin["airspace_zones"]
        kinds = zones["kind"].fillna("").astype(str).to_numpy() if "kind" in zones.columns \
            else np.full(len(zones), "")
        fi = np.asarray(sl.feature_index)
        centres = sl.mesh.cell_centers().points
        marks = []
        for row in np.unique(fi):
            c = centres[fi == row].mean(axis=0)
            marks.append((kinds[row], tuple(map(float, c))))
        return marks

    def go_to_pose(self, pose: cameras.CameraPose) -> None:
        """Put the camera at ``pose`` (twin coordinates, as ``pose()`` returns)."""
        f = self.frame
        to_scene = lambda p: (p[0] - f.origin[0], p[1] - f.origin[1], f.z(p[2]))  # noqa: E731
        self._apply(cameras.CameraPose(to_scene(pose.position), to_scene(pose.focal_point),
                                       pose.view_up, pose.view_angle))

    def _airspace_focus(self) -> tuple[float, float] | None:
        """Scene x, y of the middle (by drawn area) of the airspace within the overview's box."""
        sl = self.layers.get("airspace_zones")
        if sl is None or sl.mesh.n_cells == 0 or not sl.visible:
            return None
        import shapely

        box = self.airspace_box()
        geoms = np.asarray(self.twin["airspace_zones"].geometry.values, dtype=object)
        geoms = np.array([g for g in geoms if g is not None and not g.is_empty], dtype=object)
        if box is not None:
            geoms = shapely.intersection(geoms, shapely.box(*box))
        area = shapely.area(geoms)
        if len(geoms) == 0 or area.sum() <= 0:
            return None
        c = shapely.centroid(geoms[area > 0])
        x = float(np.average(shapely.get_x(c), weights=area[area > 0]))
        y = float(np.average(shapely.get_y(c), weights=area[area > 0]))
        sx, sy = self.frame.xy(x, y)
        return float(sx), float(sy)

    # ------------------------------------------------------------------ views
    def view(self, name: str) -> None:
        """A named look: ``overview`` (everything), ``underground`` (into the ground), ``risk``."""
        if name not in VIEWS:
            raise ValueError(f"unknown view {name!r} (views: {', '.join(VIEWS)})")
        self._caption(None)
        if name == "underground":
            if "terrain" in self.layers:
                if not self._terrain_opacity_fixed:
                    self.set_opacity("terrain", min(self.layers["terrain"].opacity, 0.35))
                self.underground_window("auto")
            for layer, opacity in (("buildings", 0.25), ("roads", 0.5), ("sites", 0.5)):
                if layer in self.layers:
                    self.set_opacity(layer, opacity)
            for layer in ("airspace_zones", "drone_corridors", "drone_tracks", "cameras", "sensors"):
                if layer in self.layers:
                    self.hide(layer)
            self.camera("underground")
        elif name == "risk":
            self._hide_details()
            for layer in ("buildings", "sites"):
                if layer in self.layers:
                    self.color_by(layer, "risk_level")
            self.camera("oblique")
        else:
            # Thousands of valves, manholes and septic tanks are a grey fog from a town's
            # height: the overview leaves them to close-ups unless they were asked for.
            self._hide_details()
            # The three domains at once: the ground thin enough for the networks under the
            # streets to read through it, the roads over them fainter still.
            fades = [("roads", 0.15)] + ([] if self._terrain_opacity_fixed
                                         else [("terrain", OVERVIEW_TERRAIN_OPACITY)])
            for layer, opacity in fades:
                if layer in self.layers and self.layers[layer].opacity > opacity:
                    self.set_opacity(layer, opacity)
            self.clip_airspace(self.airspace_box())
            self._apply(self.overview_pose())
            self._caption(self.overview_caption())

    def overview_caption(self) -> str:
        """What a reader of the overview must know: which way it looks, what is drawn larger than life."""
        cam = self.plotter.camera
        dx, dy = np.array(cam.focal_point[:2]) - np.array(cam.position[:2])
        bearing = float(np.degrees(np.arctan2(dx, dy))) % 360.0
        points = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")
        parts = [f"Looking {points[int((bearing + 22.5) // 45) % 8]}"]
        if any(STYLES.get(n) and STYLES[n].kind in ("pipe", "sewer") for n in self.layers):
            parts.append(f"buried networks at {self.frame.depth_scale:.0f}x their depth and "
                         f"{self.frame.underground:.0f}x their size")
        box = self.airspace_box()
        if "airspace_zones" in self.layers and box is not None:
            parts.append(f"airspace cut {(box[2] - box[0]) / 2000:.1f} km around the town")
        return "\n".join(parts)

    def _caption(self, text: str | None) -> None:
        self.plotter.remove_actor("__caption__", render=False)
        if text:
            # sized for the picture's height (PyVista draws this text at twice font_size pixels):
            # 17 px in a 1000 px picture, never under 8 px
            size = max(4.0, self.plotter.window_size[1] / 115)
            actor = self.plotter.add_text(text, position=(0.008, 0.99), viewport=True, font_size=size,
                                          color="#1e2530", name="__caption__")
            actor.GetTextProperty().SetVerticalJustificationToTop()

    def reveal(self, name: str) -> None:
        """Fade what lies over or beside a buried layer (terrain, roads, buildings, the other
        networks in the same streets) so its colours read."""
        from twin.schema import LAYER_DOMAINS

        if LAYER_DOMAINS.get(name) != "underground":
            return
        over = [("roads", 0.3), ("buildings", 0.45), ("sites", 0.5)]
        if not self._terrain_opacity_fixed:
            over.append(("terrain", 0.25))
        # the other buried networks share the street and would hide this one's colours
        over += [(n, 0.2) for n in ("sewers", "gas_mains", "utility_tunnels", "water_pipes") if n != name]
        for layer, opacity in over:
            if layer in self.layers and self.layers[layer].opacity > opacity:
                self.set_opacity(layer, opacity)

    def _hide_details(self) -> None:
        for layer in DETAIL_LAYERS:
            if layer in self.layers and layer not in self._requested:
                self.hide(layer)

    # ------------------------------------------------------------------ picking
    def feature_at(self, name: str, cell_id: int) -> str:
        """Id of the feature cell ``cell_id`` of layer ``name`` belongs to."""
        sl = self.layer(name)
        if not 0 <= cell_id < sl.mesh.n_cells:
            raise KeyError(f"layer {name!r} has no cell {cell_id} (it has {sl.mesh.n_cells})")
        return str(sl.ids[int(sl.feature_index[cell_id])])

    def pick(self, x: float, y: float, layers=None, *, locate: bool = True) -> Pick | None:
        """The feature under display pixel (x, y) (VTK display coordinates: origin bottom left).

        Terrain is never picked; see-through layers (airspace) only when nothing
        solid is under them.  Cells are found through a cell locator per layer
        mesh, built once (:meth:`cell_locator`), so a pick on a 100k-pipe,
        50k-building city tries the few cells near the ray instead of all of
        them.  Of the cells within the pick tolerance of the ray (a few pixels,
        so thin pipes and markers can be hit), the nearest wins, unless it is a
        surface whose edge the ray only grazes: then the surface the ray enters
        behind it wins (the roof under the cursor, seen past the eaves of the
        house in front), or, when it enters none, a line or point within the
        tolerance (the pipe in the street beside the house).  ``locate=False`` is
        the scene's former pick, VTK's brute force over every cell, kept for
        ``bench/bench_pick.py``.
        """
        far = self._far_actor()
        if far is not None and far.GetVisibility():
            # the far blocks are never picked: the building under the cursor is, on the full mesh
            try:
                far.SetVisibility(False)
                for sl in self.layers.values():
                    if sl.style.kind == "building" and sl.actor is not None:
                        sl.actor.SetVisibility(sl.visible)
                return self.pick(x, y, layers, locate=locate)
            finally:
                self._choose_building_look()
        candidates = [n for n in (layers or self.layers) if n != "terrain" and self.layers[n].visible]
        ordered = [c for c in candidates if self.layers[c].opacity > _SEE_THROUGH]
        passes = [ordered, candidates] if ordered != candidates else [candidates]
        for pool in passes:
            found = self._cast(x, y, pool, PICK_TOLERANCE, locate)
            if found is None:
                continue
            if locate and not self._thin(*found[:2]):
                entered = self._cast(x, y, pool, 0.0, locate)
                if entered is not None:
                    found = entered
                else:
                    # the ray only grazes that edge: a pipe or marker within the tolerance of it,
                    # seen past the edge, is what the cursor is on
                    beyond = self._cast(x, y, [n for n in pool if n != found[0]], PICK_TOLERANCE, locate)
                    if beyond is not None and self._thin(*beyond[:2]):
                        found = beyond
            name, cell, position = found
            fid = self.feature_at(name, cell)
            return Pick(name, fid, self._attributes(name, cell, fid), self.frame.to_twin(position), cell)
        return None

    def display_position(self, twin_xyz) -> tuple[float, float]:
        """Display pixel of a twin point (x, y, true elevation): where a click would land."""
        import vtk

        f = self.frame
        coord = vtk.vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        coord.SetValue(twin_xyz[0] - f.origin[0], twin_xyz[1] - f.origin[1], float(f.z(twin_xyz[2])))
        dx, dy = coord.GetComputedDoubleDisplayValue(self.plotter.renderer)
        return float(dx), float(dy)

    # ------------------------------------------------------------------ output
    @property
    def actor_count(self) -> int:
        return len(self.plotter.renderer.actors)

    def render(self) -> None:
        self.plotter.render()

    def screenshot(self, path=None) -> np.ndarray:
        """The current frame as an RGB array (and written to ``path`` as a PNG when given, atomically and never
        over a file that is not ours: :mod:`twin.atomic`)."""
        self.plotter.render()
        image = self.plotter.screenshot(return_img=True)
        if path:
            from io import BytesIO

            from PIL import Image

            from twin import atomic

            buf = BytesIO()
            Image.fromarray(image).save(buf, format="PNG")
            atomic.write(path, buf.getvalue())
        return image

    def close(self) -> None:
        self.plotter.close()

    # ------------------------------------------------------------------ locating features (issue 12)
    def cell_locator(self, name: str):
        """The cell locator of layer ``name``'s drawn mesh: built on first use, kept until the mesh changes.

        Kept per layer with the mesh the actor draws and the modification times of
        its points and cells: results written into cell arrays (a playing clock)
        keep it; a mesh rebuilt (the underground window, airspace cut to a box, a
        new exaggeration) gets a new one on the next pick.
        """
        from vtkmodules.vtkCommonDataModel import vtkStaticCellLocator

        data = self.layer(name).actor.GetMapper().GetInput()
        points = data.GetPoints()
        cells = [getattr(data, f"Get{kind}")() for kind in ("Verts", "Lines", "Polys", "Strips")
                 if hasattr(data, f"Get{kind}")]
        key = (points.GetMTime() if points is not None else 0, *(c.GetMTime() for c in cells),
               data.GetNumberOfCells())
        cache = self.__dict__.setdefault("_locators", {})
        held = cache.get(name)
        if held is not None and held[0] is data and held[1] == key:
            return held[2]
        locator = vtkStaticCellLocator()
        locator.SetDataSet(data)
        # the picker would rebuild it whenever the mesh is marked modified (every clock tick
        # rewrites a result array): only a new key above rebuilds it
        locator.UseExistingSearchStructureOn()
        locator.BuildLocator()
        cache[name] = (data, key, locator)
        return locator

    def feature_bounds(self, name: str, ids) -> tuple[float, float, float, float, float, float]:
        """Scene bounds (xmin, xmax, ymin, ymax, zmin, zmax) of features ``ids`` of layer ``name`` as drawn."""
        sl = self.layer(name)
        wanted = np.isin(sl.ids, np.asarray([str(i) for i in ids], dtype=object))
        cells = np.flatnonzero(wanted[sl.feature_index])
        if not len(cells):
            shown = ", ".join(str(i) for i in list(ids)[:3]) or "none given"
            raise KeyError(f"layer {name!r} draws no feature {shown}")
        used = np.asarray(sl.mesh.extract_cells(cells).points)
        lo, hi = used.min(axis=0), used.max(axis=0)
        return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]), float(lo[2]), float(hi[2]))

    def zoom_to(self, name: str, ids, *, margin: float = 1.4, min_size: float = 60.0) -> None:
        """Frame features ``ids`` of layer ``name``: the camera keeps its view direction and comes
        (or backs off) until their bounds, at least ``min_size`` metres across, fill the picture."""
        b = self.feature_bounds(name, ids)
        centre = np.array([(b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2])
        radius = max(0.5 * float(np.linalg.norm([b[1] - b[0], b[3] - b[2], b[5] - b[4]])), min_size / 2)
        cam = self.plotter.camera
        direction = np.asarray(cam.focal_point, dtype=float) - np.asarray(cam.position, dtype=float)
        direction /= max(float(np.linalg.norm(direction)), 1e-9)
        w, h = self.plotter.window_size
        half = np.radians(float(cam.view_angle)) / 2
        if w < h:  # the view angle is the vertical one: a tall picture is narrower across
            half = np.arctan(np.tan(half) * w / max(h, 1))
        distance = margin * radius / np.sin(half)
        cam.focal_point = tuple(centre)
        cam.position = tuple(centre - direction * distance)
        self.plotter.renderer.ResetCameraClippingRange()

    def _cast(self, x: float, y: float, pool, tolerance: float, locate: bool):
        """(layer, cell, scene position) of the cell of ``pool``'s layers nearest the eye within
        ``tolerance`` of the ray through display pixel (x, y), or None."""
        # from vtkmodules: the whole ``vtk`` package costs half a second to import on the first click
        from vtkmodules.vtkRenderingCore import vtkCellPicker

        if not pool:
            return None
        picker = vtkCellPicker()
        picker.SetTolerance(tolerance)
        picker.PickFromListOn()
        for n in pool:
            picker.AddPickList(self.layers[n].actor)
            if locate:
                picker.AddLocator(self.cell_locator(n))
        if not picker.Pick(x, y, 0, self.plotter.renderer):
            return None
        actor = picker.GetActor()
        name = next((n for n in pool if self.layers[n].actor is actor), None)
        if name is None:
            return None
        return name, int(picker.GetCellId()), tuple(picker.GetPickPosition())

    def _thin(self, name: str, cell: int) -> bool:
        """Whether cell ``cell`` of layer ``name`` is a line or a point (hit when the ray passes near it)."""
        from vtkmodules.vtkCommonDataModel import VTK_LINE, VTK_POLY_LINE, VTK_POLY_VERTEX, VTK_VERTEX

        return self.layers[name].mesh.GetCellType(cell) in (VTK_VERTEX, VTK_POLY_VERTEX, VTK_LINE, VTK_POLY_LINE)

    def _attributes(self, name: str, cell: int, fid: str) -> dict:
        """The picked feature's attributes: straight from its row when the layer is as drawn
        (no search through 100k ids), else looked up by id."""
        frame = self.twin[name]
        row = int(self.layers[name].feature_index[cell])
        if row < len(frame) and str(frame["id"].iat[row]) == fid:
            values = frame.iloc[row].drop(labels="geometry")
            return {k: (None if (not isinstance(v, (list, dict)) and pd.isna(v)) else v) for k, v in values.items()}
        return self.twin.feature(name, fid)

    def prepare_picking(self) -> None:
        """Build every pickable layer's cell locator now (a window calls this when idle after drawing,
        so the first click costs no more than the next)."""
        for name, sl in self.layers.items():
            if name != "terrain" and sl.actor is not None and sl.mesh.n_cells:
                self.cell_locator(name)
