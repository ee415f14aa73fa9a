"""How junctions take their demand: demand-driven, or pressure-driven with documented thresholds.

``DemandModel()`` is demand-driven (EPANET's DDA, demands met whatever the
pressure).  ``DemandModel(pdd=True)`` is pressure-driven (PDA): a junction gets
nothing below ``min_pressure`` (default 0 m), its full demand from
``required_pressure`` (default 20 m), and in between
``((p - pmin) / (preq - pmin)) ** exponent`` of it (exponent 0.5, orifice-like).

A plain value: the solver reads one from a network's options and every
analysis hands one to the solver, so it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemandModel:
    """Demand-driven (default) or pressure-driven with documented thresholds (metres)."""

    pdd: bool = False
    min_pressure: float = 0.0
    required_pressure: float = 20.0
    exponent: float = 0.5

    def __post_init__(self):
        # EPANET's own refusal is 'Error 208: illegal PDA pressure limits', which names neither value
        if self.pdd and self.min_pressure < 0:
            raise ValueError(f"pressure-driven demand: minimum pressure must be >= 0 m, not {self.min_pressure:g}")
        if self.pdd and not self.required_pressure > self.min_pressure:
            raise ValueError(f"pressure-driven demand: required pressure ({self.required_pressure:g} m) must be "
                             f"above the minimum pressure ({self.min_pressure:g} m)")

    def apply(self, solver) -> None:
        """Set this model on a :class:`~simulation.hydraulics.solver.Solver`."""
        solver.set_demand_model(self.pdd, self.min_pressure, self.required_pressure, self.exponent)

    def describe(self) -> str:
        if not self.pdd:
            return "demand-driven (DDA)"
        return (f"pressure-driven (PDA: nothing below {self.min_pressure:g} m, full demand from "
                f"{self.required_pressure:g} m, exponent {self.exponent:g})")
