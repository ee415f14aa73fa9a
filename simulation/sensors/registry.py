"""The sensor registry: the twin's ``sensors`` layer as objects the engines can use.

Each row of the layer (columns in ``twin.schema``: ``sensor_type``, ``unit``,
``layer``, ``feature_id``, ``period_s``, ``thresholds``) becomes a
:class:`Sensor`.  The registry answers "which sensor is this id", "what does it
sit on", and "how is its value read between samples": continuous physical
quantities are interpolated linearly, concentrations and states hold their last
value (a gas reading is not known to have ramped between two samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.errors import LayerError
from twin.schema import parse_json_field

#: Sensor types whose value between two samples is interpolated linearly.
INTERPOLATED_TYPES = frozenset({"pressure", "flow", "level", "water_level", "strain", "temperature",
                                "head", "velocity", "displacement", "tilt"})

#: Canonical spellings of common sensor type names.
TYPE_ALIASES = {"ch4": "methane", "gas": "methane", "combustible_gas": "methane", "c2h6": "ethane",
                "tank_level": "level", "waterlevel": "water_level", "water level": "water_level",
                "smoke_density": "smoke"}


def canonical_type(name: str) -> str:
    key = str(name).strip().lower()
    return TYPE_ALIASES.get(key, key.replace(" ", "_"))


@dataclass(frozen=True)
class Sensor:
    """One sensor: what it measures, where it sits, how often, and its alarm thresholds."""

    id: str
    sensor_type: str
    unit: str
    layer: str | None = None
    feature_id: str | None = None
    period_s: float | None = None
    thresholds: dict = field(default_factory=dict, hash=False, compare=False)
    x: float | None = None
    y: float | None = None

    @property
    def interpolated(self) -> bool:
        return self.sensor_type in INTERPOLATED_TYPES

    @property
    def feature(self) -> str:
        """``layer/feature_id`` (or the sensor's own id when it sits on nothing)."""
        if self.layer and self.feature_id:
            return f"{self.layer}/{self.feature_id}"
        return f"sensors/{self.id}"


class SensorRegistry:
    """All sensors of a twin by id."""

    def __init__(self, sensors=()):
        self._by_id: dict[str, Sensor] = {}
        for s in sensors:
            if s.id in self._by_id:
                raise LayerError(f"sensor id {s.id!r} is repeated")
            self._by_id[s.id] = s

    @classmethod
    def from_twin(cls, twin) -> "SensorRegistry":
        """Read the twin's ``sensors`` layer; bad ``thresholds`` JSON names the sensor."""
        frame = twin["sensors"]
        sensors = []
        for row in frame.itertuples(index=False):
            where = f"layer 'sensors' feature {row.id!r} column 'thresholds'"
            thresholds = parse_json_field(getattr(row, "thresholds", None), where) or {}
            if not isinstance(thresholds, dict):
                raise LayerError(f"{where}: expected a JSON object, found {type(thresholds).__name__}")
            geom = row.geometry
            period = getattr(row, "period_s", None)
            sensors.append(Sensor(
                id=str(row.id), sensor_type=canonical_type(row.sensor_type), unit=str(row.unit),
                layer=_text(getattr(row, "layer", None)), feature_id=_text(getattr(row, "feature_id", None)),
                period_s=None if period is None or period != period else float(period),
                thresholds=thresholds,
                x=None if geom is None or geom.is_empty else float(geom.x),
                y=None if geom is None or geom.is_empty else float(geom.y)))
        return cls(sensors)

    def __getitem__(self, sensor_id: str) -> Sensor:
        try:
            return self._by_id[sensor_id]
        except KeyError:
            raise KeyError(f"unknown sensor id {sensor_id!r} (the twin has {len(self._by_id)} sensors)") from None

    def get(self, sensor_id: str) -> Sensor | None:
        return self._by_id.get(sensor_id)

    def __contains__(self, sensor_id) -> bool:
        return sensor_id in self._by_id

    def __iter__(self):
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def ids(self) -> list[str]:
        return list(self._by_id)

    def of_type(self, sensor_type: str) -> list[Sensor]:
        t = canonical_type(sensor_type)
        return [s for s in self._by_id.values() if s.sensor_type == t]

    def on_feature(self, layer: str, feature_id: str) -> list[Sensor]:
        return [s for s in self._by_id.values() if s.layer == layer and s.feature_id == feature_id]


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None
