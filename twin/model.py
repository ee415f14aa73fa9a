"""The Twin: one city, in one metric CRS, in three domains of named layers.

``twin["water_pipes"]`` is always a GeoDataFrame with the schema's columns (empty
when the city has none); ``twin.terrain`` is the DEM or None; ``twin.network``
is the WNTR model of the water network or None.  Layers are validated when
set, so everything downstream can trust them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from twin import schema
from twin.crs import describe, is_metric
from twin.errors import LayerError
from twin.network import check_consistency
from twin.terrain import Terrain

#: 2: the network table keeps the imported text, the project's edits and the helper's layout.
FORMAT_VERSION = 2


class Twin:
    """A city's lifelines: underground, ground and low-altitude layers, terrain and water network."""

    def __init__(self, name: str, crs, *, terrain: Terrain | None = None,
                 network=None,
                 metadata: dict | None = None):
        crs = CRS.from_user_input(crs)
        if not is_metric(crs):
            raise LayerError(f"twin {name!r}: CRS {describe(crs)} is not a projected CRS in metres")
        self.name = name
        self.crs = crs
        self.layers: dict[str, gpd.GeoDataFrame] = {
            n: schema.empty_layer(n, crs) for n in schema.SCHEMAS}
        self.terrain = terrain
        self.network = network
        #: Free-form project settings (risk bands, provenance, import reports).
        self.metadata: dict = dict(metadata or {})

    # ------------------------------------------------------------------ layers
    def __getitem__(self, name: str) -> gpd.GeoDataFrame:
        try:
            return self.layers[name]
        except KeyError:
            raise KeyError(f"no layer {name!r}; layers are {', '.join(self.layers)}") from None

    def __setitem__(self, name: str, frame: gpd.GeoDataFrame) -> None:
        self.set_layer(name, frame)

    def set_layer(self, name: str, frame: gpd.GeoDataFrame, source: str = "<memory>") -> gpd.GeoDataFrame:
        """Validate ``frame`` against the layer's schema, reproject it to the twin's CRS, store it."""
        if name not in schema.SCHEMAS:
            raise LayerError(f"{source}: unknown layer {name!r} (known layers: {', '.join(schema.SCHEMAS)})")
        if len(frame) == 0:
            self.layers[name] = schema.empty_layer(name, self.crs)
            return self.layers[name]
        layer = schema.validate(name, frame, source)
        if not CRS.from_user_input(layer.crs).equals(self.crs):
            layer = layer.to_crs(self.crs)
        if name == "sites":
            layer = schema.derive_site_risk(layer, self.lec_bands)
        self.layers[name] = layer
        return layer

    def domain(self, domain: str) -> dict[str, gpd.GeoDataFrame]:
        if domain not in schema.DOMAINS:
            raise KeyError(f"no domain {domain!r}; domains are {', '.join(schema.DOMAINS)}")
        return {n: self.layers[n] for n, d in schema.LAYER_DOMAINS.items() if d == domain and n in self.layers}

    @property
    def lec_bands(self) -> dict[str, float]:
        return dict(self.metadata.get("lec_bands", schema.DEFAULT_LEC_BANDS))

    # ------------------------------------------------------------------ queries
    def count(self, name: str) -> int:
        if name == "terrain":
            return 0 if self.terrain is None else 1
        return len(self.layers[name])

    @property
    def extent(self) -> tuple[float, float, float, float] | None:
        """(minx, miny, maxx, maxy) of every layer and the terrain, or None when empty."""
        boxes = [f.total_bounds for f in self.layers.values() if len(f)]
        if self.terrain is not None:
            boxes.append(np.array(self.terrain.bounds))
        if not boxes:
            return None
        b = np.vstack(boxes)
        return (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))

    def summary(self) -> dict:
        """What ``lifeline-twin info --json`` prints."""
        layers = {}
        for name, domain in schema.LAYER_DOMAINS.items():
            layers[name] = {"domain": domain, "count": self.count(name)}
            if name == "terrain" and self.terrain is not None:
                layers[name]["shape"] = list(self.terrain.shape)
                layers[name]["cell_size_m"] = list(self.terrain.cell_size)
        ext = self.extent
        return {"name": self.name, "crs": describe(self.crs), "units": "m",
                "extent": list(ext) if ext else None, "layers": layers}

    def network_problems(self) -> list[str]:
        """Where the water layers and the WNTR network disagree (empty when consistent)."""
        if self.network is None:
            water = [n for n in ("water_junctions", "water_pipes") if len(self.layers[n])]
            return [f"{', '.join(water)} present but the twin has no network"] if water else []
        return check_consistency(self.network.model, self.layers)

    @property
    def network(self):
        """The water network (:class:`twin.network.Network`: EPANET text, edits, WNTR helper) or None."""
        return self._network

    @network.setter
    def network(self, value) -> None:
        from twin.network import Network, network_from_model

        if value is not None and not isinstance(value, Network):
            value = network_from_model(value)  # a network the project built itself in WNTR
        self._network = value

    #: Columns that name a feature of another layer: (layer, column) -> layers the id may be in.
    REFERENCES = {
        ("hydrants", "node_id"): ("water_junctions", "water_tanks", "water_reservoirs"),
        ("water_valves", "pipe_id"): ("water_pipes",),
        ("water_valves", "node_id"): ("water_junctions", "water_tanks", "water_reservoirs"),
        ("buildings", "junction_id"): ("water_junctions",),
        ("septic_tanks", "building_id"): ("buildings",),
        ("sewers", "upstream_manhole"): ("manholes",),
        ("sewers", "downstream_manhole"): ("manholes",),
    }

    def reference_problems(self, limit: int = 5) -> list[str]:
        """Features that name another feature which is not in the twin (empty when all resolve).

        These are warnings, not errors: layers arrive one import at a time, so a
        sensor may be imported before the pipes it sits on.  ``limit`` ids are
        listed per problem.
        """
        problems = []

        def listed(items) -> str:
            items = list(items)
            return ", ".join(items[:limit]) + (f" ... ({len(items) - limit} more)" if len(items) > limit else "")

        for (layer, column), targets in self.REFERENCES.items():
            frame = self.layers[layer]
            if not len(frame):
                continue
            named = frame[frame[column].notna() & (frame[column] != "")]
            known = set().union(*(set(self.layers[t]["id"]) for t in targets))
            dangling = named[~named[column].isin(known)]
            if len(dangling):
                problems.append(f"{layer}: {len(dangling)} features name a {column} that is not in "
                                f"{' or '.join(targets)}: "
                                + listed(f"{i} -> {v!r}" for i, v in zip(dangling["id"], dangling[column])))
        sensors = self.layers["sensors"]
        if len(sensors):
            has_id = sensors["feature_id"].notna() & (sensors["feature_id"] != "")
            has_layer = sensors["layer"].notna() & (sensors["layer"] != "")
            orphans = sensors[has_id & ~has_layer]
            if len(orphans):
                problems.append(f"sensors: {len(orphans)} sensors give a feature_id but no layer: "
                                + listed(orphans["id"]))
            dangling = []
            for layer, group in sensors[has_id & has_layer].groupby("layer", sort=True):
                if layer not in self.layers:
                    continue  # on the terrain: a raster has no feature ids to check
                known = set(self.layers[layer]["id"])
                dangling += [f"{i} -> {layer} {f!r}" for i, f in zip(group["id"], group["feature_id"])
                             if f not in known]
            if dangling:
                problems.append(f"sensors: {len(dangling)} sensors sit on features that are not in the twin: "
                                + listed(dangling))
        return problems

    def feature(self, layer: str, feature_id: str) -> dict:
        """The attributes of one feature, by layer and id."""
        frame = self[layer]
        hit = frame[frame["id"] == str(feature_id)]
        if hit.empty:
            raise KeyError(f"layer {layer!r} has no feature {feature_id!r}")
        row = hit.iloc[0]
        return {k: (None if (not isinstance(v, (list, dict)) and pd.isna(v)) else v)
                for k, v in row.drop(labels="geometry").items()}

    def __repr__(self) -> str:
        non_empty = {n: len(f) for n, f in self.layers.items() if len(f)}
        return f"<Twin {self.name!r} {describe(self.crs)} {non_empty}>"
