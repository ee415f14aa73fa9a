"""Retrofit plans: new diameters and materials on chosen pipes, judged against the network as it is.

A plan is a CSV (``pipe_id,diameter_mm[,material][,roughness]``) or a YAML file::

    name: Old town mains 2027
    year: 2027                    # the pipes' new install year (default: this year)
    repair_hours: 12              # how long a break leaves its customers dry
    currency: CNY                 # what unit_costs and the cost are in (default CNY)
    unit_costs: {150: 260, 200: 320, 300: 450}   # currency per metre by diameter, mm
    pipes:
      - {id: "p343", diameter_mm: 300, material: DI}
      - {id: "p696", diameter_mm: 250, material: PE, roughness: 150}

Each metric is computed for the baseline and for the plan, side by side:

* minimum pressure over junctions with demand and report times (m);
* pressure-deficit hours: junction-hours below the service pressure (14 m);
* fire-flow pass rate (see :mod:`.fire_flow`; hydrants, or a sample of junctions);
* expected population-hours without water per year: for every pipe, break rate
  (per km·year, by material and age, :data:`BREAK_RATES`) × length × the people
  its closure leaves below service pressure (:mod:`.criticality`) × repair hours;
* Todini's resilience index (WNTR's ``todini_index``, averaged over time);
* cost: length × unit cost of the new diameter (next listed size up).

Keys the plan does not know (a misspelt ``unit_cost``, a ``diamter_mm`` in a pipe
entry, an extra CSV column) are an error naming the file, the line and the key,
with the closest known key suggested; numbers must be finite (``.nan``, ``.inf``
and ``inf`` are refused).

Roughness, when the plan gives none, comes from the material (Hazen-Williams C
in :data:`HW_C`, or Darcy-Weisbach mm in :data:`DW_MM`).  Break rates are
indicative values for North American mains (after Folkman, *Water Main Break
Rates in the USA and Canada*, 2018, converted to per 100 km·year), raised by
:data:`AGE_GROWTH` per year of age beyond :data:`AGE_FREE_YEARS`; replace them
with a utility's own records where they exist.  The default unit costs are
indicative installed costs for open-cut work in urban streets, to be replaced
by local prices.  They are in the plan's ``currency`` (an ISO 4217 code,
default :data:`DEFAULT_CURRENCY`; a CSV plan uses the default), which every
table, JSON and figure names beside the cost.

Tables are written for people: the comparison has a ``unit`` column, the
per-pipe table names its units in the headers, and numbers never come out in
scientific notation.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.hydraulics.results import SERVICE_PRESSURE, write_atomic
from twin.errors import SourceError, reading_problem
from twin.yaml_lines import line_of

#: Breaks per 100 km per year, by material (indicative; see the module docstring).
BREAK_RATES = {"CI": 21.5, "AC": 4.6, "DI": 3.0, "PVC": 1.6, "PE": 2.0, "HDPE": 2.0, "STEEL": 7.1,
               "CONCRETE": 2.1, "UNKNOWN": 8.0}
AGE_FREE_YEARS = 20
AGE_GROWTH = 0.03
#: Hazen-Williams C of new pipe, by material.
HW_C = {"CI": 130, "DI": 140, "PVC": 150, "PE": 150, "HDPE": 150, "STEEL": 140, "CONCRETE": 130, "AC": 140}
#: Darcy-Weisbach absolute roughness of new pipe, mm.
DW_MM = {"CI": 0.26, "DI": 0.1, "PVC": 0.0015, "PE": 0.007, "HDPE": 0.007, "STEEL": 0.045, "CONCRETE": 0.3,
         "AC": 0.03}
#: Indicative installed cost per metre by diameter (mm).
DEFAULT_UNIT_COSTS = {100: 210, 150: 260, 200: 320, 250: 380, 300: 450, 400: 600, 500: 780, 600: 950,
                      800: 1350, 1000: 1800}
REPAIR_HOURS = 12.0
#: Currency of costs when the plan names none (ISO 4217).
DEFAULT_CURRENCY = "CNY"
#: Unit of each metric of the comparison table ("{currency}": the plan's).
METRIC_UNITS = {"min_pressure_m": "m", "pressure_deficit_hours": "junction-hours",
                "fire_flow_pass_rate": "share of nodes (0-1)",
                "expected_people_hours_without_water_per_year": "people-hours/year",
                "todini_index": "dimensionless", "cost": "{currency}"}
#: Headers of the per-pipe CSV, with their units.
PIPE_HEADERS = {"id": "pipe_id", "people_without_service": "people_without_service",
                "breaks_per_year": "breaks_per_year", "expected_people_hours": "expected_people_hours_per_year"}
#: Decimals of numbers in the CSV tables (never scientific notation).
CSV_FLOAT_FORMAT = "%.4f"
#: Keys of a YAML plan, of one of its pipe entries, and the columns of a CSV plan.
PLAN_KEYS = ("name", "year", "repair_hours", "unit_costs", "pipes")
#: Keys accepted beside them (not listed in the "known:" hint of an error, which names the core ones).
EXTRA_PLAN_KEYS = ("currency",)
PIPE_KEYS = ("id", "diameter_mm", "material", "roughness")
CSV_COLUMNS = ("pipe_id", "id", "diameter_mm", "material", "roughness")


def _unknown(path, what: str, key, known, line: int | None = None, where: str = "") -> SourceError:
    """One error naming the file, the line, the unknown key and the closest known one."""
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    at = f" line {line}:" if line else ""
    return SourceError(f"{path}:{at}{where} unknown {what} {str(key)!r} ({hint}known: {', '.join(known)})")


def _finite_number(v) -> bool:
    if isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError, OverflowError):
        return False


@dataclass
class Plan:
    name: str
    pipes: pd.DataFrame                    # id, diameter_mm, material, roughness
    unit_costs: dict = field(default_factory=lambda: dict(DEFAULT_UNIT_COSTS))
    year: int | None = None
    repair_hours: float = REPAIR_HOURS
    source: str = ""
    currency: str = DEFAULT_CURRENCY       # of unit_costs and of the plan's cost (ISO 4217 code)


def read_plan(path: str | Path, system=None) -> Plan:
    """Read a plan (CSV or YAML); with ``system``, every pipe id is checked against its network."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such plan file")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        text = path.read_text(encoding="utf-8")
        try:
            doc = yaml.safe_load(text) or {}
            root = yaml.compose(text)
        except yaml.YAMLError as exc:
            raise SourceError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
        if isinstance(doc, dict):
            for key in doc:  # a misspelt key was silently ignored (unit_cost: the default prices applied)
                if str(key) not in PLAN_KEYS + EXTRA_PLAN_KEYS:
                    raise _unknown(path, "key", key, PLAN_KEYS, line_of(root, (key,)))
        if not isinstance(doc, dict) or not isinstance(doc.get("pipes"), list) or not doc["pipes"]:
            raise SourceError(f"{path}: a plan needs a non-empty 'pipes' list")
        rows = []
        for i, item in enumerate(doc["pipes"], start=1):
            if not isinstance(item, dict) or "id" not in item or "diameter_mm" not in item:
                raise SourceError(f"{path}: pipes entry {i} needs 'id' and 'diameter_mm'")
            for key in item:
                if str(key) not in PIPE_KEYS:
                    raise _unknown(path, "key", key, PIPE_KEYS, line_of(root, ("pipes", i - 1, key)),
                                   f" pipes entry {i}:")
            r = item.get("roughness")
            if r is not None and not (_finite_number(r) and float(r) > 0):  # YAML's .nan is not "none given"
                raise SourceError(f"{path}: pipes entry {i}: roughness must be a finite number > 0, not {r!r}")
            rows.append(item)
        pipes = pd.DataFrame(rows)
        lines = list(range(1, len(pipes) + 1))
        where = "pipes entry"
        costs = doc.get("unit_costs") or DEFAULT_UNIT_COSTS
        try:
            costs = {float(k): float(v) for k, v in costs.items()}
        except (TypeError, ValueError, AttributeError):
            raise SourceError(f"{path}: unit_costs must map diameters (mm) to costs per metre") from None
        bad = [(k, v) for k, v in costs.items() if not (math.isfinite(k) and k > 0 and math.isfinite(v) and v >= 0)]
        if bad:
            raise SourceError(f"{path}: unit_costs: {bad[0][0]:g} mm -> {bad[0][1]:g}: diameters must be finite "
                              "numbers > 0 and costs finite numbers >= 0")
        year, repair = doc.get("year"), doc.get("repair_hours", REPAIR_HOURS)
        # checked here: a text year or repair time surfaced later as a bare "invalid literal for int()"
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise SourceError(f"{path}: year must be a whole year such as 2030, not {year!r}")
        if isinstance(repair, bool) or not isinstance(repair, (int, float)) or not repair >= 0:
            raise SourceError(f"{path}: repair_hours must be a number of hours >= 0, not {repair!r}")
        if not math.isfinite(repair):
            raise SourceError(f"{path}: repair_hours must be a finite number of hours, not {repair!r}")
        currency = doc.get("currency", DEFAULT_CURRENCY)
        if not isinstance(currency, str) or not currency.strip() or not currency.strip().isalpha():
            raise SourceError(f"{path}: currency must be a currency code such as CNY, USD or EUR, "
                              f"not {currency!r}")
        plan = Plan(str(doc.get("name") or path.stem), pipes, costs, year, float(repair), str(path),
                    currency.strip().upper())
    else:
        try:
            pipes = pd.read_csv(path, dtype={"pipe_id": str, "id": str, "material": str}, comment="#")
        except Exception as exc:
            raise SourceError(f"{path}: cannot read the plan CSV: {reading_problem(exc)}") from None
        found = ", ".join(map(str, pipes.columns))
        if "pipe_id" in pipes.columns:
            pipes = pipes.rename(columns={"pipe_id": "id"})
        for col, name in (("id", "pipe_id"), ("diameter_mm", "diameter_mm")):
            if col not in pipes.columns:  # named as the user writes it: pipe_id (id is accepted too)
                raise SourceError(f"{path}: plan CSV has no column {name!r} (needs pipe_id, diameter_mm; "
                                  f"found {found})")
        extra = [c for c in pipes.columns if str(c) not in CSV_COLUMNS]
        if extra:  # a misspelt 'roughnes' column was ignored: the material's default applied instead
            raise _unknown(path, "column", extra[0], ("pipe_id", *CSV_COLUMNS[2:]), 1)
        lines = list(range(2, len(pipes) + 2))
        where = "line"
        plan = Plan(path.stem, pipes, dict(DEFAULT_UNIT_COSTS), None, REPAIR_HOURS, str(path))
    p = plan.pipes
    p["id"] = p["id"].astype(str)
    for col in ("material", "roughness"):
        if col not in p.columns:
            p[col] = np.nan
    for line, row in zip(lines, p.itertuples()):
        try:
            d = float(row.diameter_mm)
        except (TypeError, ValueError):
            d = float("nan")
        if not (d > 0 and math.isfinite(d)):
            raise SourceError(f"{path}: {where} {line}: diameter_mm must be a number > 0 and finite, "
                              f"not {row.diameter_mm!r}")
        r = row.roughness
        if r is not None and not (isinstance(r, float) and math.isnan(r)) and not (
                isinstance(r, str) and not r.strip()):
            # an empty CSV cell is "no roughness given"; anything else must be a finite number > 0
            if not (_finite_number(r) and float(r) > 0):
                raise SourceError(f"{path}: {where} {line}: roughness must be a finite number > 0, not {r!r}")
    p["diameter_mm"] = p["diameter_mm"].astype(float)
    p["roughness"] = pd.to_numeric(p["roughness"].replace("", np.nan), errors="coerce").astype(float)
    if system is not None:
        known = set(system.network.pipe_name_list)
        for line, pid in zip(lines, p["id"]):
            if pid not in known:
                raise KeyError(f"{path}: {where} {line}: no pipe {pid!r} in the network {system.name!r}")
    dup = p["id"][p["id"].duplicated()]
    if len(dup):
        raise SourceError(f"{path}: pipe {dup.iloc[0]!r} is listed twice")
    return plan


def unit_cost(costs: dict, diameter_mm: float) -> float:
    sizes = sorted(costs)
    for s in sizes:
        if diameter_mm <= s + 1e-9:
            return float(costs[s])
    raise ValueError(f"no unit cost for a {diameter_mm:g} mm pipe (largest priced size {sizes[-1]:g} mm)")


def apply_plan(system, plan: Plan, year: int):
    """A copy of ``system`` with the plan's diameters, roughness and materials (installed in ``year``).

    The changes are edits of the network (:class:`twin.network.Edit`), which
    EPANET applies to the imported text; the text itself is never rewritten.
    """
    from twin.network import Edit

    wn = system.network
    dw = wn.options.hydraulic.headloss == "D-W"
    attrs = system.pipe_attributes.copy() if len(system.pipe_attributes) else pd.DataFrame(
        index=pd.Index(wn.pipe_name_list, name="id"), columns=["material", "install_year"])
    edits = []
    for r in plan.pipes.itertuples():
        edits.append(Edit(str(r.id), "diameter", r.diameter_mm / 1000.0))
        material = str(r.material).upper() if isinstance(r.material, str) and r.material else None
        if not pd.isna(r.roughness):
            edits.append(Edit(str(r.id), "roughness", float(r.roughness)))
        elif material:
            table = DW_MM if dw else HW_C
            if material not in table:
                raise ValueError(f"{plan.source}: pipe {r.id}: no default roughness for material {material!r}; "
                                 f"give a roughness (known: {', '.join(table)})")
            edits.append(Edit(str(r.id), "roughness", float(table[material])))
        attrs.loc[r.id, "material"] = material or attrs.get("material", pd.Series(dtype=object)).get(r.id)
        attrs.loc[r.id, "install_year"] = year
    out = system.edited(*edits)
    out.pipe_attributes = attrs
    return out


def break_rates(system, year: int) -> pd.Series:
    """Breaks per km per year for every pipe, from its material and age."""
    names = system.network.pipe_name_list
    attrs = system.pipe_attributes.reindex(names) if len(system.pipe_attributes) else pd.DataFrame(index=names)
    material = attrs.get("material", pd.Series(index=names, dtype=object)).fillna("UNKNOWN").astype(str).str.upper()
    base = material.map(lambda m: BREAK_RATES.get(m, BREAK_RATES["UNKNOWN"])) / 100.0
    installed = pd.to_numeric(attrs.get("install_year", pd.Series(index=names, dtype=float)), errors="coerce")
    age = (year - installed).clip(lower=0).fillna(AGE_FREE_YEARS + 20)  # unknown age: 40 years
    factor = (1.0 + AGE_GROWTH) ** (age - AGE_FREE_YEARS).clip(lower=0)
    return (base * factor).astype(float)


@dataclass
class RetrofitResult:
    plan: Plan
    table: pd.DataFrame            # metric, baseline, plan, change
    cost: float
    details: dict
    figures: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"plan": self.plan.name, "pipes": len(self.plan.pipes), "cost": round(self.cost, 2),
                "currency": self.plan.currency,
                "metrics": {r.metric: {"baseline": _num(r.baseline), "plan": _num(r.plan), "change": _num(r.change)}
                            for r in self.table.itertuples()},
                "settings": self.details.get("settings", {})}

    def write(self, out_dir) -> list[Path]:
        out = Path(out_dir)
        paths = [write_atomic(out / "retrofit_comparison.csv", _csv(self.comparison_table())),
                 write_atomic(out / "retrofit.json", json.dumps(self.to_json(), indent=1)),
                 write_atomic(out / "retrofit_pipes.csv", _csv(self.pipe_table()))]
        for name, png in self.figures.items():
            paths.append(write_atomic(out / name, png))
        return paths


    def comparison_table(self) -> pd.DataFrame:
        """The comparison with each metric's unit beside it (the cost in the plan's currency)."""
        t = self.table.copy()
        units = t["metric"].map(lambda m: METRIC_UNITS.get(m, "").format(currency=self.plan.currency))
        t.insert(1, "unit", units)
        return t

    def pipe_table(self) -> pd.DataFrame:
        """Per-pipe criticality, baseline and plan, with the units in the headers."""
        names = {}
        for col in self.details["pipes"].columns:
            base, _, which = col.rpartition("_")
            if base in PIPE_HEADERS and which in ("baseline", "plan"):
                names[col] = f"{PIPE_HEADERS[base]}_{which}"
            elif col in PIPE_HEADERS:
                names[col] = PIPE_HEADERS[col]
        return self.details["pipes"].rename(columns=names)


def _csv(frame: pd.DataFrame) -> str:
    """CSV text for people: plain decimals (no ``1.2e+04``), no index."""
    return frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT)


def _num(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 4)


def _pressure_metrics(system, duration_h):
    import wntr

    from simulation.hydraulics.results import simulate

    res = simulate(system, duration_h=duration_h)
    p = res.junction_frame("pressure")
    wn = system.network
    demanding = [j for j in p.columns if (wn.get_node(j).base_demand or 0) > 0] or list(p.columns)
    pd_ = p[demanding]
    step_h = (np.diff(p.index.to_numpy()).mean() / 3600.0) if len(p.index) > 1 else 1.0
    deficit_hours = float((pd_ < SERVICE_PRESSURE).to_numpy().sum() * step_h)
    try:
        todini = wntr.metrics.todini_index(res.node_frame("head"), res.node_frame("pressure"),
                                           res.node_frame("demand"), res.link_frame("flow"), wn, SERVICE_PRESSURE)
        todini = float(np.nanmean(np.asarray(todini, dtype=float)))
    except Exception:  # pumps without curves WNTR can read, etc.: report as unknown
        todini = float("nan")
    return {"min_pressure_m": float(pd_.to_numpy().min()), "deficit_hours": deficit_hours, "todini": todini,
            "junction_min": pd_.min()}


def evaluate_plan(system, plan: Plan, *, year: int | None = None, sample: int | None = None, seed: int = 0,
                  duration_h: float | None = None, fire_sample: int = 100, workers: int = 0,
                  scheduler: str | None = None, progress: bool = False,
                  cluster_threshold_s: float | None = None, stages=None) -> RetrofitResult:
    """Baseline against plan: pressure, deficit hours, fire flow, expected people-hours without water, Todini, cost.

    ``stages``: called with a line of text as each of the six stages starts (the
    baseline's and the plan's pressures, fire flow and pipe closures), so a long
    evaluation (a week of L-Town is tens of minutes) says what it is doing even
    where no progress bar can be drawn.
    """
    from simulation.hydraulics.criticality import criticality
    from simulation.hydraulics.fire_flow import fire_flow, hydrant_nodes

    year = int(year or plan.year or _dt.date.today().year)
    planned = apply_plan(system, plan, year)
    wn = system.network
    lengths = pd.Series({p: wn.get_link(p).length for p in wn.pipe_name_list})
    costs = plan.pipes.apply(lambda r: lengths[r.id] * unit_cost(plan.unit_costs, r.diameter_mm), axis=1)
    cost = float(costs.sum())
    kw = dict(workers=workers, scheduler=scheduler, progress=progress, cluster_threshold_s=cluster_threshold_s)
    hydrants = hydrant_nodes(system)
    fire_nodes = hydrants["node"].tolist()
    if len(fire_nodes) > fire_sample:
        fire_nodes = hydrants.sample(n=fire_sample, random_state=seed)["node"].tolist()
    crit_pipes = None
    if sample is not None and sample < len(wn.pipe_name_list):
        rng = np.random.default_rng(seed)
        crit_pipes = sorted(set(rng.choice(wn.pipe_name_list, size=sample, replace=False).tolist())
                            | set(plan.pipes["id"]))
    metrics, per_pipe = {}, {}
    hours = duration_h if duration_h is not None else wn.options.time.duration / 3600.0
    n_fire = len(dict.fromkeys(fire_nodes))
    n_crit = len(crit_pipes) if crit_pipes is not None else len(wn.pipe_name_list)
    stage = iter(range(1, 7))

    def say(text: str) -> None:
        if stages is not None:
            stages(f"[{next(stage)}/6] {text}")

    for label, sysm in (("baseline", system), ("plan", planned)):
        say(f"{label}: pressures over {hours:g} h")
        pm = _pressure_metrics(sysm, duration_h)
        say(f"{label}: fire flow at {n_fire} node(s)")
        ff = fire_flow(sysm, nodes=list(dict.fromkeys(fire_nodes)), available=False, **kw)
        say(f"{label}: {n_crit} pipe closure(s), {hours:g} h each")
        cr = criticality(sysm, pipes=crit_pipes, duration_h=duration_h, **kw)
        rates = break_rates(sysm, year)
        people = cr.table.set_index("id")["population_without_service"]
        km = lengths.reindex(people.index) / 1000.0
        exp_ph = rates.reindex(people.index) * km * people * plan.repair_hours
        per_pipe[label] = pd.DataFrame({"people_without_service": people, "breaks_per_year": rates.reindex(
            people.index) * km, "expected_people_hours": exp_ph})
        metrics[label] = {"min_pressure_m": pm["min_pressure_m"], "pressure_deficit_hours": pm["deficit_hours"],
                          "fire_flow_pass_rate": ff.pass_rate,
                          "expected_people_hours_without_water_per_year": float(exp_ph.sum()),
                          "todini_index": pm["todini"], "cost": 0.0 if label == "baseline" else cost,
                          "_junction_min": pm["junction_min"]}
    rows = []
    for m in ("min_pressure_m", "pressure_deficit_hours", "fire_flow_pass_rate",
              "expected_people_hours_without_water_per_year", "todini_index", "cost"):
        b, p = metrics["baseline"][m], metrics["plan"][m]
        rows.append({"metric": m, "baseline": b, "plan": p, "change": p - b})
    table = pd.DataFrame(rows)
    pipes = per_pipe["baseline"].add_suffix("_baseline").join(per_pipe["plan"].add_suffix("_plan")).reset_index()
    pipes = pipes.rename(columns={"index": "id"}).sort_values("expected_people_hours_baseline", ascending=False)
    figures = _figures(plan, metrics, pipes, table)
    return RetrofitResult(plan, table, cost, {"pipes": pipes, "settings": {
        "year": year, "repair_hours": plan.repair_hours, "service_pressure_m": SERVICE_PRESSURE,
        "criticality_pipes": "all" if crit_pipes is None else len(crit_pipes),
        "fire_flow_nodes": len(set(fire_nodes)), "population_source": system.population_source}}, figures)


def _plain(v: float) -> str:
    """A number as a planner writes it: thousands separated, at most 3 significant decimals, never 1e+03."""
    if v is None or not np.isfinite(v):
        return "n/a"
    a = abs(v)
    if a >= 100 or a == 0:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:,.1f}"
    return f"{v:.3f}"


#: Panel title and axis label (with unit) of each metric in the metrics figure.
METRIC_LABELS = {"min_pressure_m": ("lowest pressure", "pressure (m)"),
                 "pressure_deficit_hours": ("pressure deficit", f"junction-hours below {SERVICE_PRESSURE:g} m"),
                 "fire_flow_pass_rate": ("fire flow pass rate", "share of nodes passing (%)"),
                 "expected_people_hours_without_water_per_year": ("people without water",
                                                                  "expected people-hours per year"),
                 "todini_index": ("Todini resilience index", "index (dimensionless)")}


def build_figures(plan, metrics, pipes, table) -> dict:
    """The retrofit figures as matplotlib figures, by file name (see :func:`_figures`).

    Every axis names its unit; the metrics figure has one panel per metric with a
    number to show (a metric that could not be computed, e.g. Todini's index on a
    network whose pumps WNTR cannot read, is named in a note instead of leaving an
    empty panel); the cost is given in the plan's currency.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    currency = getattr(plan, "currency", DEFAULT_CURRENCY)
    plain_axis = FuncFormatter(lambda v, _pos: _plain(v))
    out = {}
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, colour, style, width in (("baseline", "tab:grey", "-", 3.0), ("plan", "tab:blue", "--", 1.5)):
        v = np.sort(metrics[label]["_junction_min"].to_numpy())
        ax.plot(v, np.linspace(0, 1, len(v)), label=label, color=colour, ls=style, lw=width)
    ax.axvline(SERVICE_PRESSURE, color="tab:red", ls=":", lw=1.0, label=f"service pressure {SERVICE_PRESSURE:g} m")
    ax.set_xlabel("lowest pressure over the run (m)")
    ax.set_ylabel("share of junctions at or below (%)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(f"Pressure: baseline vs {plan.name}")
    ax.legend()
    ax.grid(alpha=0.3)
    out["retrofit_pressure.png"] = fig

    top = pipes.head(15)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    y = np.arange(len(top))
    ax.barh(y - 0.2, top["expected_people_hours_baseline"], height=0.4, color="tab:grey", label="baseline")
    ax.barh(y + 0.2, top["expected_people_hours_plan"], height=0.4, color="tab:blue", label="plan")
    ax.set_yticks(y, top["id"].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel("expected people-hours without water per year")
    ax.set_ylabel("pipe")
    ax.xaxis.set_major_formatter(plain_axis)
    ax.set_title(f"Most critical pipes (top {len(top)}): baseline vs {plan.name}")
    ax.legend()
    out["retrofit_criticality.png"] = fig

    rows = [r for r in table[table["metric"] != "cost"].itertuples()
            if np.isfinite(r.baseline) or np.isfinite(r.plan)]
    missing = [METRIC_LABELS.get(r.metric, (r.metric,))[0] for r in table[table["metric"] != "cost"].itertuples()
               if not (np.isfinite(r.baseline) or np.isfinite(r.plan))]
    cost = float(metrics["plan"]["cost"])
    if rows:
        fig, axes = plt.subplots(1, len(rows), figsize=(2.5 * len(rows) + 0.6, 3.4), squeeze=False)
        for ax, r in zip(axes[0], rows):
            share = r.metric == "fire_flow_pass_rate"
            values = [r.baseline * 100 if share else r.baseline, r.plan * 100 if share else r.plan]
            bars = ax.bar(["baseline", "plan"], np.nan_to_num(values), color=["tab:grey", "tab:blue"])
            ax.bar_label(bars, labels=[_plain(v) + ("%" if share and np.isfinite(v) else "") for v in values],
                         fontsize=7)
            title, unit = METRIC_LABELS.get(r.metric, (r.metric.replace("_", " "), ""))
            ax.set_title(title, fontsize=8)
            ax.set_ylabel(unit, fontsize=7)
            ax.yaxis.set_major_formatter(plain_axis)
            ax.tick_params(labelsize=7)
            ax.margins(y=0.15)
    else:  # nothing could be computed: the cost is still worth a panel
        fig, ax = plt.subplots(figsize=(3.5, 3.4))
        bars = ax.bar(["plan"], [cost], color="tab:blue")
        ax.bar_label(bars, labels=[f"{_plain(cost)} {currency}"], fontsize=7)
        ax.set_ylabel(f"cost ({currency})", fontsize=7)
        ax.yaxis.set_major_formatter(plain_axis)
    head = f"{plan.name}: {len(plan.pipes)} pipe(s), cost {_plain(cost)} {currency}"
    if missing:
        head += f"  (not computed: {', '.join(missing)})"
    fig.suptitle(head, fontsize=9)
    out["retrofit_metrics.png"] = fig
    return out


def _figures(plan, metrics, pipes, table) -> dict[str, bytes]:
    """The retrofit figures as PNG bytes, by file name."""
    from io import BytesIO

    import matplotlib.pyplot as plt

    out = {}
    for name, fig in build_figures(plan, metrics, pipes, table).items():
        buf = BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        out[name] = buf.getvalue()
    return out
