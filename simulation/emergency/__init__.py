"""Emergency response on the twin: incidents, stations and units, dispatch over the road network.

    >>> from simulation.emergency import EmergencyModel, load_scenario, summarise, combine
    >>> model = EmergencyModel.from_twin(twin, load_scenario())
    >>> runs = model.simulate(days=365, replications=5)
    >>> kpis = combine([summarise(r, model.scenario) for r in runs])

A SimPy model: each incident's life cycle (report -> verify -> assign ->
turnout -> travel -> on scene -> handle -> feedback -> close) is one generator
(``response``); units are the resources of a dispatch board (``dispatch``);
travel comes from the road graph (``roads``, ``travel``).  ``history`` reads
real dispatch records (San Francisco format) to calibrate and validate,
with turnout by hour of day (``turnout``), travel speed by hour of day and
the observed travel spread (``travel``), and units sent from the road on
their way home (``dispatch``).  ``report`` runs the replications and writes
what a planner reads: KPIs, tables and plots (``results``, ``plots``).
No Qt here.
"""

from simulation.emergency.config import Scenario, load_scenario
from simulation.emergency.fleet import Fleet
from simulation.emergency.incidents import Incidents, from_alarms, from_table, generate
from simulation.emergency.model import EmergencyModel
from simulation.emergency.response import ResponseSimulation, Run
from simulation.emergency.results import combine, summarise
from simulation.emergency.roads import RoadGraph
from simulation.emergency.travel import RoadTravel, StraightLineTravel, fit_straight_line

__all__ = ["Scenario", "load_scenario", "Fleet", "Incidents", "generate", "from_table", "from_alarms",
           "EmergencyModel", "ResponseSimulation", "Run", "summarise", "combine", "RoadGraph", "RoadTravel",
           "StraightLineTravel", "fit_straight_line"]
