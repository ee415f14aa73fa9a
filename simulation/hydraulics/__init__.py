"""Hydraulics on the twin: EPANET 2.3 in memory, scenario sweeps on Dask, and the analyses.

Modules, one per question a water engineer asks:

* :mod:`.solver` — one network open in EPANET, modified, solved and restored per scenario;
* :mod:`.demand` — how junctions take their demand: demand-driven or pressure-driven;
* :mod:`.system` — the network with its population, hydrants and isolation valves (project or .inp);
* :mod:`.results` — ``simulate()``: one run as time × junction / time × pipe tables;
* :mod:`.sweep` — many scenarios over Dask worker processes, failures recorded, progress, Ctrl-C;
* :mod:`.criticality` — N-1 pipe closures ranked by people and water left without service;
* :mod:`.segments` — isolation segments from valves, shutdowns for a break, unintended isolation;
* :mod:`.fire_flow` — required fire flow at residual pressure, pass/fail and available flow;
* :mod:`.breaks` — a main break in time, its isolation, pressure/service timelines, volume lost;
* :mod:`.quality` — water age and a contaminant injection traced to the people exposed;
* :mod:`.retrofit` — a retrofit plan against the baseline: pressure, fire flow, criticality, cost.

Nothing here imports Qt: everything runs headless.
"""

from simulation.hydraulics.demand import DemandModel
from simulation.hydraulics.results import SERVICE_PRESSURE, Results, simulate
from simulation.hydraulics.solver import Solver, SolverError
from simulation.hydraulics.system import WaterSystem, load_system

__all__ = ["DemandModel", "Results", "SERVICE_PRESSURE", "Solver", "SolverError", "WaterSystem",
           "load_system", "simulate"]
