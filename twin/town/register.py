"""The demo town's site register ("one site, one file"): places that need watching, with LEC scores.

Sites are chosen among the generated buildings (a school is a public building
in town, the chemical plant an industrial shed at the edge) or at the works
that other layers imply (the water treatment plant at the reservoirs, the
sewage works at the largest sewer low point, the gas gate station at the gas
feeder, the airfield).  Each carries a contact, dated inspection records,
hazards and an LEC (Graham-Kinney) assessment: L likelihood, E exposure,
C consequence, on the method's usual scales, chosen per category so the
register spans all four warning levels (D = L × E × C: > 320 red, 160-320
orange, 70-160 yellow, below 70 blue) as a real county's does.  A site of
yellow or blue whose latest inspection demands corrective action has its
likelihood raised one step on the L scale: the file's records drive its risk.
"""

from __future__ import annotations

import json
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.town.plan import TownPlan, spread_out

#: category -> (L, E, C, hazards)
LEC = {
    "chemical plant": (3, 6, 40, "chlorine storage, flammable solvents, toxic release"),
    "fireworks warehouse": (3, 3, 40, "explosives storage, fire"),
    "LPG depot": (1, 6, 40, "LPG storage, BLEVE, vapour cloud"),
    "construction site": (3, 6, 15, "deep excavation beside a medium-pressure gas main, trench collapse"),
    "gas station": (1, 6, 15, "gasoline and diesel tanks, vapour, fire"),
    "gas gate station": (1, 6, 15, "high-pressure gas, odorant, pressure reduction"),
    "hospital": (1, 10, 15, "oxygen store, vulnerable occupants, evacuation"),
    "nursing home": (1, 10, 15, "immobile occupants, evacuation"),
    "shopping centre": (1, 6, 15, "crowds, fire load"),
    "water treatment plant": (0.5, 6, 40, "chlorine gas, drinking-water contamination"),
    "wastewater treatment plant": (1, 6, 15, "hydrogen sulphide, methane, confined spaces"),
    "airport": (1, 6, 15, "aviation fuel, aircraft accident"),
    "school": (0.5, 6, 15, "children, crowds, evacuation"),
    "kindergarten": (0.5, 6, 7, "young children, evacuation"),
    "market": (1, 3, 7, "crowds, temporary stalls"),
}
#: Graham-Kinney likelihood scale.
L_SCALE = (0.1, 0.2, 0.5, 1, 3, 6, 10)
_INSPECTORS = ("County Fire Marshal", "Kentucky Division of Water", "State Fire Marshal",
               "PSC Gas Pipeline Safety", "County Emergency Management", "OSHA Area Office")
_RESULTS = ("pass", "pass", "pass", "minor findings", "corrective action required")
_ROLES = ("Safety officer", "Facility manager", "Plant manager", "Principal", "Duty manager")
_NAMES = ("A. Carter", "B. Nguyen", "C. Ramirez", "D. Whitfield", "E. Osei", "F. Baker", "G. Li",
          "H. Adams", "I. Petrov", "J. Cole", "K. Singh", "L. Moreno", "M. Haddad", "N. Young")


def works_lot(near_xy, half: float, roads) -> shapely.Polygon:
    """A square lot of side ``2 * half`` for a works beside ``near_xy``, placed where it covers least road.

    Nine placements are tried (centred on the point, or pushed off it in eight directions);
    the one whose square overlaps the carriageways least wins (ties: the first).
    """
    near_xy = np.asarray(near_xy, dtype=float)
    area = shapely.union_all(shapely.buffer(np.asarray(roads), 6.0))
    best, best_overlap = None, np.inf
    for angle in [None, *range(0, 360, 45)]:
        shift = np.zeros(2) if angle is None else \
            (half + 15.0) * np.array([np.sin(np.radians(angle)), np.cos(np.radians(angle))])
        x, y = near_xy + shift
        lot = shapely.box(x - half, y - half, x + half, y + half)
        overlap = shapely.area(shapely.intersection(lot, area))
        if overlap < best_overlap - 1e-6:
            best, best_overlap = lot, overlap
    return best


def build_sites(plan: TownPlan, buildings, *, water_plant_lot, sewage_works_lot, gate_xy, gas_mains,
                airfield_polygon) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """(sites layer, updated buildings frame): register buildings get the use their site implies."""
    rng = plan.rng("sites")
    frame = buildings.frame.copy()
    zone = buildings.zone
    geoms = frame.geometry.values
    centroid = shapely.get_coordinates(shapely.centroid(geoms))
    area = shapely.area(geoms)
    dist = plan.centre_distance(centroid)
    taken = np.zeros(len(frame), dtype=bool)
    picks: list[tuple[str, str, object, int | None]] = []  # (category, name, geometry, building row)

    def take(category, name, mask, score, use, floors=None, lot=15.0):
        idx = np.flatnonzero(mask & ~taken)
        if len(idx) == 0:
            return None
        row = int(idx[np.argmax(score[idx])])
        taken[row] = True
        frame.loc[row, "use"] = use
        if floors is not None:
            frame.loc[row, "floors"] = floors
            frame.loc[row, "height"] = round(floors * 4.0 + 1.0, 1)
        picks.append((category, name, shapely.buffer(geoms[row], lot, join_style="mitre"), row))
        return row

    town = (zone == "town") | (zone == "centre")
    use = frame["use"].to_numpy()
    jitter = rng.random(len(frame))
    take("hospital", "Clay County Memorial Hospital", town & (dist < 1500), area - dist * 0.05, "public", 5, 25.0)
    take("market", "Courthouse Square Market", zone == "centre", -dist, "commercial", None, 10.0)
    take("shopping centre", "Bluegrass Plaza", town & (use == "commercial"), area + jitter, "commercial", 2, 30.0)
    industrial = zone == "industrial"
    take("chemical plant", "Kentucky River Chemical Co.", industrial, dist + area, "industrial", 2, 60.0)
    take("LPG depot", "Tri-County Propane Depot", industrial, area + jitter * 100, "industrial", 1, 40.0)
    take("fireworks warehouse", "Red Bird Fireworks Warehouse", (zone == "rural") & (use == "industrial"),
         jitter, "industrial", 1, 30.0)
    take("nursing home", "Maple Grove Nursing Home", town & (dist > 500), area + jitter * 50, "public", 2, 20.0)

    # Schools and kindergartens spread over town; gas stations along the arterials.
    cand = np.flatnonzero(town & ~taken & (area > 90) & (use != "industrial"))
    for k, i in enumerate(cand[spread_out(centroid[cand], 6, rng)]):
        category = "school" if k < 4 else "kindergarten"
        names = ("Clay County High School", "Main Street Elementary", "Hillcrest Middle School",
                 "Northside Elementary", "Little Oaks Kindergarten", "Sunshine Kindergarten")
        take(category, names[k], np.arange(len(frame)) == i, np.zeros(len(frame)), "public", 2, 35.0)
    on_main = np.isin(buildings.road_class, ["primary", "secondary"])
    cand = np.flatnonzero(on_main & ~taken & (zone != "industrial"))
    brands = ("Marathon", "Shell", "Speedway", "Thorntons", "BP")
    for k, i in enumerate(cand[spread_out(centroid[cand], 5, rng)]):
        take("gas station", f"{brands[k]} gas station", np.arange(len(frame)) == i, np.zeros(len(frame)),
             "commercial", 1, 20.0)

    picks.append(("water treatment plant", "Clay County Water Treatment Plant", water_plant_lot, None))
    picks.append(("wastewater treatment plant", "Town Branch Wastewater Plant", sewage_works_lot, None))
    picks.append(("gas gate station", "Delta Gas Gate Station", shapely.Point(gate_xy), None))
    medium = gas_mains[gas_mains["pressure_class"] == "medium_b"]
    if len(medium):
        line = medium.geometry.values[int(rng.integers(len(medium)))]
        picks.append(("construction site", "Sewer replacement excavation",
                      line.interpolate(0.5, normalized=True), None))
    picks.append(("airport", "Clay County Regional Airport", airfield_polygon, None))

    rows = []
    for i, (category, name, geom, row) in enumerate(picks):
        l, e, c, hazards = LEC[category]
        records = _inspections(rng, category)
        if records[-1]["result"] == "corrective action required" and l * e * c <= 160:
            # An open finding makes an accident likelier: one step up the L scale.
            l = L_SCALE[min(L_SCALE.index(l) + 1, len(L_SCALE) - 1)]
        rows.append({
            "id": f"S{i + 1:03d}", "name": name, "category": category,
            "contact": f"{_ROLES[int(rng.integers(len(_ROLES)))]} {_NAMES[int(rng.integers(len(_NAMES)))]}, "
                       f"+1 606-555-01{int(rng.integers(100)):02d}",
            "inspections": json.dumps(records), "hazards": hazards,
            "lec_l": float(l), "lec_e": float(e), "lec_c": float(c),
            "building_id": frame["id"].iloc[row] if row is not None else None,
            "geometry": geom})
    sites = gpd.GeoDataFrame(rows, geometry="geometry", crs=plan.crs)
    return sites, frame


def _inspections(rng: np.random.Generator, category: str) -> list[dict]:
    out = []
    for _ in range(int(rng.integers(1, 4))):
        year = int(rng.integers(2022, 2027))
        month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
        result = _RESULTS[int(rng.integers(len(_RESULTS)))]
        notes = {"pass": "no findings", "minor findings": "signage and housekeeping to improve",
                 "corrective action required": "emergency plan outdated; re-inspect in 90 days"}[result]
        out.append({"date": f"{year}-{month:02d}-{day:02d}",
                    "inspector": _INSPECTORS[int(rng.integers(len(_INSPECTORS)))],
                    "result": result, "notes": notes})
    return sorted(out, key=lambda r: r["date"])
