"""The twin's gas mains as a pandapipes network: junctions, pipes, regulators, the source and the customers.

:func:`gas_network` reads the twin's ``gas_mains``, ``sites`` and
``buildings`` and returns a :class:`GasGrid`: a pandapipes network of natural
gas (the library's ``hgas`` fluid) and the tables that tie it back to the
twin.  The rules (``docs/gas.md`` cites each):

* **Junctions** at the end points of the mains, snapped together within
  ``snap_m`` (default 1 m): ends closer than that are one *place*.  A main
  touching another anywhere but at its ends is not connected to it (as in
  EPANET).  A place where mains of several pressure classes end holds one
  junction per class.
* **Pipes**: one per main, its length the line's, its diameter the main's
  ``diameter`` (taken as the inner diameter), its roughness by ``material``
  (:data:`ROUGHNESS_MM`).
* **Regulators**: where mains of a higher and a lower class end at one place,
  a regulator feeds the lower class's junction from the higher's and holds it
  at the lower class's set point (:data:`SET_POINT_BAR`); three classes at one
  place are a cascade (medium A -> medium B -> low).  The twin has no
  regulator layer, so every such place is a regulator station.  A regulator
  is modelled as its two sides, not as pandapipes' ``pressure_control``
  (whose Jacobian is singular when a regulator passes no flow — a district
  with no load, or cut off by a closed main — which the demo city has by the
  dozen): an ``ext_grid`` at the set point on the outlet junction and a
  ``sink`` on the inlet junction drawing what that ext_grid delivers,
  iterated by :func:`simulation.gas.leak.solve` until the two agree.  That is
  exactly an ideal regulator while its inlet pressure is above its set point;
  a regulator whose inlet has no pressure (its side cut off) or less than its
  set point delivers nothing (its outlet ext_grid is out of service).
* **Source**: the twin's ``sites`` of category ``gas gate station`` (or the
  points given as ``sources``), each snapped to the nearest place within
  ``source_snap_m``; an ``ext_grid`` there at the set point of the highest
  class ending at that place.
* **Customers**: each residential, commercial or public building whose
  centroid lies within ``customer_reach_m`` of a low-pressure main is served
  by the nearest one (its service line taps that main); its demand is lumped
  at the nearer end of the main.  Demand: :class:`DemandRule`.  A customer is
  *without gas* while its main is closed or the pressure where its demand is
  lumped is below the minimum supply pressure.

Bad input is one :class:`GasNetworkError` each: no gas mains, no source, a
section of mains no source reaches (naming them), a main without a diameter.
A section cut off *during a run* (a closed main) is not an error: the solve
leaves its junctions without pressure and its customers without gas.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from twin.errors import TwinError
from twin.town.gas import places

FLUID = "hgas"
#: ground temperature at the depth of the mains, K (the gas takes it within metres of a regulator)
GROUND_TEMPERATURE_K = 283.15
#: reference conditions of "normal" volumes (m³ and L of gas): 0 °C, 101.325 kPa
NORMAL_TEMPERATURE_K = 273.15

#: GB 50028-2006 Table 6.1.6: the gauge pressure range of each class, MPa
CLASS_RANGE_MPA = {"low": (0.0, 0.01), "medium_b": (0.01, 0.2), "medium_a": (0.2, 0.4),
                   "subhigh_b": (0.4, 0.8), "subhigh_a": (0.8, 1.6), "high": (1.6, 4.0)}
#: highest first: the order regulators step down in
CLASS_ORDER = ("high", "subhigh_a", "subhigh_b", "medium_a", "medium_b", "low")
#: the gauge pressure a source or a regulator outlet holds in each class, bar.  Low: 3.0 kPa, the
#: outlet that leaves a 2.0 kPa appliance the GB 50028-2006 §6.2.8 network drop of 0.75·Pn + 150 Pa
#: (1.65 kPa); the others in the upper part of their class, as operators run them.
SET_POINT_BAR = {"low": 0.030, "medium_b": 1.5, "medium_a": 3.5, "subhigh_b": 7.0, "subhigh_a": 14.0,
                 "high": 35.0}
#: equivalent absolute roughness of the pipe wall, mm: steel carrying natural gas 0.1 (GB 50028-2006
#: §6.2.5-6.2.6), PE 0.01 (smooth plastic; Moody-chart tables give 0.0015-0.01), grey cast iron 0.5 and
#: cement-lined ductile iron 0.1 (Moody-chart tables)
ROUGHNESS_MM = {"steel": 0.1, "pe": 0.01, "ci": 0.5, "cast iron": 0.5, "di": 0.1, "ductile iron": 0.1}
DEFAULT_ROUGHNESS_MM = 0.1
GATE_CATEGORY = "gas gate station"
#: pipeflow options of a network built from a twin: more Newton iterations than the library's 10 (a city
#: with a hundred regulator outlets takes 20-40 from the flat start) and tighter tolerances than its
#: 1e-4 / 1e-3, so the regulators' flows balance the customers' demand to 1e-12 kg/s, not to 0.1 %
PIPEFLOW = {"max_iter_hyd": 100, "tol_m": 1e-7, "tol_p": 1e-7, "tol_res": 1e-6}
CUSTOMER_USES = ("residential", "commercial", "public")


class GasNetworkError(TwinError):
    """The twin's gas mains cannot make a network, or a solve failed (the message names the features)."""


@dataclass(frozen=True)
class DemandRule:
    """Design-hour gas demand of a building, by the hourly-flow rule of GB 50028-2006 §6.2.1.

    Q_h = Q_a / n with n = 365·24 / (K_m·K_d·K_h): a household uses ``annual_mj_per_person ×
    persons_per_household`` MJ a year (Q_a), and its design hour is that over the year's 8,760 hours
    times the month, day and hour peak factors (typical values of the design manuals: K_m 1.1–1.3,
    K_d 1.05–1.2, K_h 2.2–3.2).  Residential buildings have ``population / persons_per_household``
    households (floor area / ``m2_per_household`` when the population is missing); commercial and
    public buildings one household-equivalent per ``m2_per_equivalent`` of floor area (an assumption:
    replace it with metered consumption).  Industrial buildings are not on the low-pressure network.
    """

    annual_mj_per_person: float = 2500.0   # a design index: 2,303–2,721 MJ/(person·a) in North China
    persons_per_household: float = 2.62    # China's 7th population census (2020)
    heating_value_mj_m3: float = 36.0      # pipeline natural gas (GB 17820-2018 class 1: >= 34 MJ/m³)
    k_month: float = 1.2
    k_day: float = 1.1
    k_hour: float = 3.0
    m2_per_household: float = 90.0
    m2_per_equivalent: float = 100.0

    @property
    def household_peak_m3h(self) -> float:
        """One household's design-hour demand, m³/h at reference conditions (0.0823 with the defaults)."""
        annual_m3 = self.annual_mj_per_person * self.persons_per_household / self.heating_value_mj_m3
        return annual_m3 / 8760.0 * self.k_month * self.k_day * self.k_hour

    def households(self, buildings) -> np.ndarray:
        """Households (or household-equivalents) of each building; 0 for uses not on the network."""
        use = buildings["use"].fillna("").astype(str).str.lower().to_numpy()
        floors = pd.to_numeric(buildings["floors"], errors="coerce").fillna(1).clip(lower=1).to_numpy(float)
        area = shapely.area(buildings.geometry.values) * floors
        people = pd.to_numeric(buildings["population"], errors="coerce").fillna(0).to_numpy(float)
        residential = np.where(people > 0, people / self.persons_per_household, area / self.m2_per_household)
        out = np.where(use == "residential", residential, area / self.m2_per_equivalent)
        return np.where(np.isin(use, CUSTOMER_USES), out, 0.0)


def _frame(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class GasGrid:
    """A pandapipes gas network and the tables that tie it to the twin.

    * ``net``: the pandapipes network;
    * ``pipes`` (index: pandapipes pipe index) — ``main``, ``part``: which twin main each pipe is
      (a main split by a leak is two pipes, parts 0 and 1);
    * ``junctions`` (index: pandapipes junction index) — ``place``, ``pressure_class``, ``x``, ``y``;
    * ``regulators`` — ``inlet``, ``outlet`` (junctions), ``set_bar``, ``ext_grid``, ``sink``;
    * ``customers`` (one row per building served) — ``building``, ``main``, ``junction``,
      ``households``, ``people``, ``demand_kg_s`` (design hour);
    * ``sinks``: junction -> the pandapipes sink of the customers lumped there.

    A network not built from a twin (a pandapipes example) has empty tables and is solved as it is.
    """

    net: object
    pipes: pd.DataFrame = field(default_factory=lambda: _frame(["main", "part"]))
    junctions: pd.DataFrame = field(default_factory=lambda: _frame(["place", "pressure_class", "x", "y"]))
    regulators: pd.DataFrame = field(default_factory=lambda: _frame(["inlet", "outlet", "set_bar", "ext_grid",
                                                                     "sink"]))
    customers: pd.DataFrame = field(default_factory=lambda: _frame(["building", "main", "junction", "households",
                                                                    "people", "demand_kg_s"]))
    sinks: dict = field(default_factory=dict)
    #: a low-pressure customer is without gas below this gauge pressure, bar
    min_supply_bar: float = 0.015
    #: pipeflow options (none: the library's defaults)
    options: dict = field(default_factory=dict)
    closed: set = field(default_factory=set)
    demand_factor: float = 1.0
    #: main id -> its line (where a leak along it sits)
    lines: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- reading the grid
    @property
    def normal_density(self) -> float:
        """Density of the gas at reference conditions (0 °C, 101.325 kPa), kg/m³."""
        return float(np.atleast_1d(self.net.fluid.get_density(NORMAL_TEMPERATURE_K))[0])

    @property
    def molar_mass(self) -> float:
        """Molar mass of the gas, kg/mol."""
        return float(np.atleast_1d(self.net.fluid.get_molar_mass())[0]) / 1000.0

    def pipes_of(self, main: str) -> list[int]:
        return self.pipes.index[self.pipes["main"] == main].tolist()

    def has_main(self, main: str) -> bool:
        return bool((self.pipes["main"] == main).any())

    # ---------------------------------------------------------------- changing it
    def close(self, main: str) -> None:
        """Take ``main`` out of service (its valves shut); its customers are without gas."""
        self._require(main)
        self.closed.add(main)
        self.apply()

    def open(self, main: str) -> None:
        """Put ``main`` back in service."""
        self._require(main)
        self.closed.discard(main)
        self.apply()

    def set_demand_factor(self, factor: float) -> None:
        """Scale every customer's design-hour demand (the hour's share of the design hour)."""
        self.demand_factor = float(factor)
        self.apply()

    def _require(self, main: str) -> None:
        if not self.has_main(main):
            raise GasNetworkError(f"gas network: no gas main {main!r}")

    def apply(self) -> None:
        """Write the closed mains and the customers' demand into the pandapipes tables."""
        net = self.net
        if len(self.pipes):
            net.pipe.loc[self.pipes.index, "in_service"] = ~self.pipes["main"].isin(self.closed).to_numpy()
        if len(self.customers):
            on = ~self.customers["main"].isin(self.closed).to_numpy()
            load = self.customers["demand_kg_s"].to_numpy(float) * on
            per = pd.Series(load).groupby(self.customers["junction"].to_numpy()).sum()
            net.sink.loc[[self.sinks[j] for j in per.index], "mdot_kg_per_s"] = per.to_numpy() * self.demand_factor

    def split(self, main: str, along: float) -> tuple[int, tuple[float, float]]:
        """Split ``main`` at ``along`` (fraction of its length from its first end): the junction between.

        A leak sits there.  ``along`` at an end is moved 0.1 % inside the main.
        """
        import pandapipes as pp

        self._require(main)
        along = min(max(float(along), 1e-3), 1.0 - 1e-3)
        net = self.net
        parts = self.pipes[self.pipes["main"] == main].sort_values("part")
        lengths = net.pipe.loc[parts.index, "length_km"].to_numpy(float)
        at = along * lengths.sum()
        k = int(np.searchsorted(np.cumsum(lengths), at))
        k = min(k, len(lengths) - 1)
        i = int(parts.index[k])
        before = float(lengths[:k].sum())
        length = float(lengths[k])
        row = net.pipe.loc[i]
        a, b = int(row["from_junction"]), int(row["to_junction"])
        f = (at - before) / length
        ja, jb = self.junctions.loc[a], self.junctions.loc[b]
        line = self.lines.get(main)
        if line is not None:
            point = line.interpolate(along, normalized=True)
            x, y = float(point.x), float(point.y)
        else:
            x = float(ja["x"] + f * (jb["x"] - ja["x"]))
            y = float(ja["y"] + f * (jb["y"] - ja["y"]))
        with warnings.catch_warnings():   # pandapipes' own concat of its geodata table (pandas FutureWarning)
            warnings.simplefilter("ignore", FutureWarning)
            j = pp.create_junction(net, pn_bar=float(net.junction.at[a, "pn_bar"]), tfluid_k=GROUND_TEMPERATURE_K,
                                   name=f"{main}@{along:g}", geodata=(x, y))
        self.junctions.loc[j] = {"place": -1, "pressure_class": ja["pressure_class"], "x": x, "y": y}
        net.pipe.at[i, "to_junction"] = j
        net.pipe.at[i, "length_km"] = at - before
        n = pp.create_pipe_from_parameters(net, j, b, length_km=length - (at - before),
                                           diameter_m=float(row["diameter_m"]), k_mm=float(row["k_mm"]),
                                           name=f"{main}", in_service=bool(row["in_service"]))
        later = self.pipes.index[(self.pipes["main"] == main) & (self.pipes["part"] > self.pipes.at[i, "part"])]
        self.pipes.loc[later, "part"] += 1
        self.pipes.loc[n] = {"main": main, "part": int(self.pipes.at[i, "part"]) + 1}
        return j, (x, y)


# -------------------------------------------------------------------- building from the twin
def gas_network(twin, *, snap_m: float = 1.0, source_snap_m: float = 50.0, customer_reach_m: float = 60.0,
                demand: DemandRule = DemandRule(), sources=None, min_supply_kpa: float = 1.5) -> GasGrid:
    """The :class:`GasGrid` of ``twin``'s gas mains (rules in the module docstring).

    ``sources``: points (x, y) in the twin's CRS where gas enters, instead of the gate station sites.
    ``min_supply_kpa``: the lowest pressure a low-pressure customer is supplied at, kPa: 0.75 × Pn, Pn = 2.0 kPa
    the rated pressure of natural gas appliances (GB/T 13611-2018, 12T); GB 50028-2006 §6.2.8 designs the
    low-pressure network so appliances see 0.75–1.5 Pn.
    """
    import pandapipes as pp

    mains = twin["gas_mains"]
    if not len(mains):
        raise GasNetworkError("gas network: the twin has no gas mains")
    ids = mains["id"].astype(str).to_numpy()
    diameter = pd.to_numeric(mains["diameter"], errors="coerce").to_numpy(float)
    bad = ids[~(diameter > 0)]
    if len(bad):
        raise GasNetworkError(f"gas network: {len(bad)} gas main(s) without a diameter: {_names(bad)}")
    klass = mains["pressure_class"].astype(str).to_numpy()
    lines = shapely.line_merge(mains.geometry.values)
    multi = ids[shapely.get_type_id(lines) != 1]
    if len(multi):
        raise GasNetworkError(f"gas network: gas main(s) in several pieces (split them): {_names(multi)}")
    start = shapely.get_coordinates(shapely.get_point(lines, 0))
    end = shapely.get_coordinates(shapely.get_point(lines, -1))
    n = len(ids)
    place = places(np.vstack([start, end]), snap_m)
    a_place, b_place = place[:n], place[n:]
    same = a_place == b_place
    if same.any():
        raise GasNetworkError(f"gas network: gas main(s) whose ends are within the snap tolerance ({snap_m:g} m) "
                              f"of each other: {_names(ids[same])}")
    xy = np.zeros((place.max() + 1, 2))
    xy[place] = np.vstack([start, end])

    net = pp.create_empty_network(name="gas mains", fluid=FLUID)
    keys = sorted(set(zip(a_place.tolist(), klass.tolist())) | set(zip(b_place.tolist(), klass.tolist())),
                  key=lambda k: (k[0], CLASS_ORDER.index(k[1])))
    kp = np.array([p for p, _ in keys])
    kc = np.array([c for _, c in keys], dtype=object)
    with warnings.catch_warnings():   # pandapipes' own concat of its geodata table (pandas FutureWarning)
        warnings.simplefilter("ignore", FutureWarning)
        index = pp.create_junctions(net, len(keys), pn_bar=[SET_POINT_BAR[c] for c in kc],
                                    tfluid_k=GROUND_TEMPERATURE_K, name=[f"P{p}-{c}" for p, c in keys],
                                    geodata=[(float(xy[p, 0]), float(xy[p, 1])) for p in kp])
    junction_of = {key: int(j) for key, j in zip(keys, index)}
    junctions = pd.DataFrame({"place": kp, "pressure_class": kc, "x": xy[kp, 0], "y": xy[kp, 1]},
                             index=np.asarray(index))
    material = mains["material"].fillna("").astype(str).str.lower().to_numpy()
    k_mm = np.array([ROUGHNESS_MM.get(m, DEFAULT_ROUGHNESS_MM) for m in material])
    pipe_index = pp.create_pipes_from_parameters(
        net, [junction_of[(p, c)] for p, c in zip(a_place, klass)],
        [junction_of[(p, c)] for p, c in zip(b_place, klass)],
        length_km=shapely.length(lines) / 1000.0, diameter_m=diameter, k_mm=k_mm, name=ids)
    pipes = pd.DataFrame({"main": ids, "part": 0}, index=np.asarray(pipe_index))
    by_place: dict[int, list[str]] = {}
    for p, c in keys:
        by_place.setdefault(p, []).append(c)
    # the source(s)
    points = _source_points(twin, sources)
    if not len(points):
        raise GasNetworkError(f"gas network: no source (no site of category {GATE_CATEGORY!r} in the twin, "
                              "and no source point given)")
    fed = []
    for x, y in points:
        d = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
        p = int(np.argmin(d))
        if d[p] > source_snap_m:
            raise GasNetworkError(f"gas network: no source (the gas gate station at ({x:.1f}, {y:.1f}) is "
                                  f"{d[p]:.1f} m from the nearest main end; it must be within {source_snap_m:g} m)")
        top = by_place[p][0]
        pp.create_ext_grid(net, junction_of[(p, top)], p_bar=SET_POINT_BAR[top], t_k=GROUND_TEMPERATURE_K,
                           name=f"source P{p}")
        fed.append(junction_of[(p, top)])
    # regulators where classes meet
    inlet, outlet = [], []
    for p, classes in sorted(by_place.items()):
        for hi, lo in zip(classes, classes[1:]):
            inlet.append(junction_of[(p, hi)])
            outlet.append(junction_of[(p, lo)])
    _check_connected(net, pipes, inlet, outlet, fed)
    regulators = pd.DataFrame({"inlet": inlet, "outlet": outlet}, dtype=int)
    if len(regulators):
        regulators["set_bar"] = [SET_POINT_BAR[junctions.at[j, "pressure_class"]] for j in outlet]
        regulators["ext_grid"] = np.asarray(pp.create_ext_grids(
            net, outlet, p_bar=regulators["set_bar"].to_numpy(), t_k=GROUND_TEMPERATURE_K,
            name=[f"regulator {k} outlet" for k in range(len(outlet))]))
        regulators["sink"] = np.asarray(pp.create_sinks(net, inlet, mdot_kg_per_s=0.0,
                                                        name=[f"regulator {k} inlet" for k in range(len(inlet))]))
    grid = GasGrid(net, pipes, junctions, regulators, min_supply_bar=min_supply_kpa / 100.0, options=dict(PIPEFLOW),
                   lines=dict(zip(ids, lines)))
    grid.customers, grid.sinks = _customers(twin, mains, a_place, b_place, lines, junction_of, customer_reach_m,
                                            demand, grid.normal_density, net)
    grid.apply()
    return grid


def _names(ids, most: int = 12) -> str:
    ids = [str(i) for i in ids]
    return ", ".join(ids[:most]) + (f", ... ({len(ids)} in all)" if len(ids) > most else "")


def _source_points(twin, sources) -> list[tuple[float, float]]:
    if sources is not None:
        return [(float(x), float(y)) for x, y in sources]
    sites = twin["sites"]
    if not len(sites):
        return []
    gates = sites[sites["category"].astype(str).str.lower() == GATE_CATEGORY]
    pts = shapely.get_coordinates(shapely.point_on_surface(gates.geometry.values))
    return [(float(x), float(y)) for x, y in pts]


def _check_connected(net, pipes, inlet, outlet, fed) -> None:
    """One error naming every main no source reaches (gas goes through a regulator from inlet to outlet only)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order

    m = len(net.junction)
    fj, tj = net.pipe["from_junction"].to_numpy(int), net.pipe["to_junction"].to_numpy(int)
    a = np.r_[fj, tj, np.asarray(inlet, dtype=int), np.full(len(fed), m)]
    b = np.r_[tj, fj, np.asarray(outlet, dtype=int), np.asarray(fed, dtype=int)]
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(m + 1, m + 1)).tocsr()
    reached = np.zeros(m + 1, dtype=bool)
    reached[breadth_first_order(graph, m, directed=True, return_predecessors=False)] = True
    cut = ~reached[fj]
    if cut.any():
        from scipy.sparse.csgraph import connected_components

        names = pipes.loc[net.pipe.index[cut], "main"].tolist()
        und = coo_matrix((np.ones(cut.sum()), (fj[cut], tj[cut])), shape=(m, m))
        _, label = connected_components(und, directed=False)
        sections = len(set(label[fj[cut]]))
        raise GasNetworkError(f"gas network: {len(names)} gas main(s) in {sections} isolated section(s) that no "
                              f"source reaches: {_names(names)}")


def _customers(twin, mains, a_place, b_place, lines, junction_of, reach, demand: DemandRule, rho_n: float, net):
    import pandapipes as pp

    cols = ["building", "main", "junction", "households", "people", "demand_kg_s"]
    buildings = twin["buildings"]
    low = np.flatnonzero(mains["pressure_class"].astype(str).to_numpy() == "low")
    if not len(buildings) or not len(low):
        return _frame(cols), {}
    households = demand.households(buildings)
    keep = np.flatnonzero(households > 0)
    if not len(keep):
        return _frame(cols), {}
    centre = shapely.centroid(buildings.geometry.values[keep])
    tree = shapely.STRtree(lines[low])
    (bi, mi), _ = tree.query_nearest(centre, max_distance=reach, return_distance=True, all_matches=False)
    rows = keep[bi]
    main_row = low[mi]
    frac = shapely.line_locate_point(lines[main_row], centre[bi], normalized=True)
    place = np.where(frac <= 0.5, a_place[main_row], b_place[main_row])
    junction = np.array([junction_of[(int(p), "low")] for p in place], dtype=int)
    people = pd.to_numeric(buildings["population"], errors="coerce").fillna(0).to_numpy(float)[rows]
    kg_s = households[rows] * demand.household_peak_m3h / 3600.0 * rho_n
    customers = pd.DataFrame({"building": buildings["id"].astype(str).to_numpy()[rows],
                              "main": mains["id"].astype(str).to_numpy()[main_row], "junction": junction,
                              "households": households[rows], "people": people, "demand_kg_s": kg_s})
    customers = customers.sort_values("building", kind="stable").reset_index(drop=True)
    at = sorted(set(junction.tolist()))
    made = pp.create_sinks(net, at, mdot_kg_per_s=0.0, name=[f"customers at {net.junction.at[j, 'name']}" for j in at])
    return customers, dict(zip(at, (int(s) for s in made)))
