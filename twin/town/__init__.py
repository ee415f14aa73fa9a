"""A plausible town grown around a real water network: the parts of the built-in demo city.

The water network is real (wntr's ky10); everything else is generated from it
so the layers agree with each other the way a real city's do: streets run over
the mains, houses line the streets and hold the people the junction demands
serve, gas mains and sewers share the street, sensors sit on real features.
Each module grows one family of layers from a :class:`twin.town.plan.TownPlan`;
:func:`twin.demo.build_demo` calls them in order:

* ``plan``       — the shared facts: zoning, centre, per-part random streams;
* ``streets``    — the road network read off the mains;
* ``landform``   — the DEM through the junctions;
* ``airfield``   — runway siting and ICAO Annex 14 obstacle limitation surfaces;
* ``buildings``  — LOD1 footprints along the streets, population from demand;
* ``water``      — pipe records, hydrants, N-1 isolation valves;
* ``gas``        — gas mains (medium-pressure ring, low-pressure grid), utility tunnel;
* ``drainage``   — gravity sewers and storm drains, manholes, valve chambers, septic tanks;
* ``register``   — the site register with LEC risk;
* ``response``   — fire stations, micro fire stations, EMS and utility depots;
* ``monitoring`` — cameras and sensors;
* ``drones``     — no-fly zones, drone corridors, recorded flights;
* ``drawing``    — the plan drawing (PNG) used to check the town reads as one.
"""
