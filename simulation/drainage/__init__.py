"""Urban drainage on EPA SWMM 5: design storms, the town's model, SWMM on the session clock, flooded roads.

* :mod:`~simulation.drainage.storm` — rain: a Chicago hyetograph from a
  rainstorm intensity formula, or a recorded gauge series;
* :mod:`~simulation.drainage.build` — the town's SWMM model from the twin's
  storm drains, manholes, buildings, roads and terrain;
* :mod:`~simulation.drainage.engine` — :class:`Drainage`, SWMM stepped on a
  :class:`~simulation.session.Session`, with its results and events;
* :mod:`~simulation.drainage.roads` — water on the streets and the speed a
  flooded road keeps.

Imported SWMM models are read by :mod:`twin.importers.swmm`.
"""
