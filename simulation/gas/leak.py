"""A gas leak as a pressure-dependent outflow, and the steady state of a gas network with its leaks.

A pandapipes sink draws a fixed mass flow whatever the pressure, so a leak is
a sink whose flow :func:`solve` sets from the pressure at the hole and
re-solves until the two agree.

**The orifice rule** (:func:`orifice_mass_flow`): gas escaping through a hole
of area A in the wall of a main at absolute pressure p0 (temperature T0,
density ρ0 = p0·M / (R·T0)) into the atmosphere pa is isentropic flow through
an orifice (Crowl & Louvar, *Chemical Process Safety*, 3rd ed. 2011, §4-6
"Flow of gases or vapors through holes"; TNO *Yellow Book* CPR 14E, 3rd ed.
1997, ch. 2 "Outflow and spray release")::

    subsonic, pa/p0 > r* = (2/(γ+1))^(γ/(γ-1)):
        ṁ = Cd·A·sqrt(2·ρ0·p0 · γ/(γ-1) · [(pa/p0)^(2/γ) - (pa/p0)^((γ+1)/γ)])
    choked, pa/p0 <= r* (above 0.84 bar gauge for natural gas, γ = 1.31):
        ṁ = Cd·A·sqrt(γ·ρ0·p0 · (2/(γ+1))^((γ+1)/(γ-1)))

At small pressure differences the subsonic form tends to the incompressible
orifice rule Q = Cd·A·sqrt(2·Δp/ρ) (a low-pressure main at 3 kPa: 1.7 %
below it); the medium-pressure mains of a city (0.85-4 bar gauge) leak
choked, and the incompressible rule would overstate them by 40-90 %.  Cd = 0.61, a
sharp-edged hole (Crowl & Louvar recommend 0.61, or 1.0 for the most
conservative estimate); the gas is ideal (Z ≈ 0.99 at these pressures) at
the ground temperature of the network; γ = 1.31 (methane, 10 °C).

**The solve** (:func:`solve`): pipeflow; every regulator's inlet sink takes
what its outlet ext_grid delivered (see :mod:`simulation.gas.network`), every
regulator whose inlet pressure is missing or below its set point is taken out
(and put back when it rises again), and every leak's sink takes a secant
step on g(ṁ) = ṁ - orifice(p_hole(ṁ)), an increasing function (more outflow,
lower pressure at the hole) kept inside its bracket [0, orifice(p without the
leak)]; repeated until the regulators' flows and the leaks' flows change by
less than ``tol`` (relative).  Each solve starts from the same state (no
warm start), so a solve depends only on the network's state, never on the
solves before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulation.gas.network import GROUND_TEMPERATURE_K, GasGrid, GasNetworkError

R_GAS = 8.314462618        # J/(mol·K)
P_ATM = 101325.0           # Pa
GAMMA = 1.31               # methane's heat capacity ratio near 10 °C
DISCHARGE_COEFFICIENT = 0.61


def orifice_mass_flow(p_gauge_pa: float, hole_m: float, *, cd: float = DISCHARGE_COEFFICIENT,
                      molar_mass: float = 0.016604497, temperature_k: float = GROUND_TEMPERATURE_K,
                      gamma: float = GAMMA, p_atm: float = P_ATM) -> float:
    """Mass flow (kg/s) through a round hole of ``hole_m`` in a main at ``p_gauge_pa`` (compressible rule)."""
    if not (p_gauge_pa > 0.0) or hole_m <= 0.0:
        return 0.0
    p0 = p_atm + p_gauge_pa
    rho0 = p0 * molar_mass / (R_GAS * temperature_k)
    area = math.pi * hole_m ** 2 / 4.0
    ratio = p_atm / p0
    critical = (2.0 / (gamma + 1.0)) ** (gamma / (gamma - 1.0))
    if ratio <= critical:
        return cd * area * math.sqrt(gamma * rho0 * p0 * (2.0 / (gamma + 1.0)) ** ((gamma + 1.0) / (gamma - 1.0)))
    bracket = ratio ** (2.0 / gamma) - ratio ** ((gamma + 1.0) / gamma)
    return cd * area * math.sqrt(2.0 * rho0 * p0 * gamma / (gamma - 1.0) * bracket)


def incompressible_mass_flow(p_gauge_pa: float, hole_m: float, *, cd: float = DISCHARGE_COEFFICIENT,
                             molar_mass: float = 0.016604497, temperature_k: float = GROUND_TEMPERATURE_K,
                             p_atm: float = P_ATM) -> float:
    """Q·ρ of the incompressible orifice rule Q = Cd·A·sqrt(2·Δp/ρ), ρ the gas in the main (for comparison)."""
    if not (p_gauge_pa > 0.0):
        return 0.0
    rho0 = (p_atm + p_gauge_pa) * molar_mass / (R_GAS * temperature_k)
    return cd * math.pi * hole_m ** 2 / 4.0 * math.sqrt(2.0 * p_gauge_pa * rho0)


@dataclass
class Leak:
    """A hole of ``hole_mm`` (equivalent round diameter) in gas main ``main``, at ``along`` of its length.

    Placed on a grid with :func:`place_leak` (which splits the main there); ``open`` while it leaks.
    """

    main: str
    hole_mm: float
    along: float = 0.5
    discharge_coefficient: float = DISCHARGE_COEFFICIENT
    junction: int | None = None
    sink: int | None = None
    xy: tuple[float, float] | None = None
    open: bool = False

    def __post_init__(self):
        if not (isinstance(self.hole_mm, (int, float)) and math.isfinite(self.hole_mm) and self.hole_mm > 0):
            raise GasNetworkError(f"gas leak on {self.main}: the hole size must be a number of mm above 0, "
                                  f"not {self.hole_mm!r}")
        if not 0.0 <= float(self.along) <= 1.0:
            raise GasNetworkError(f"gas leak on {self.main}: along must be between 0 and 1 (a fraction of the "
                                  f"main's length), not {self.along!r}")

    def mass_flow(self, grid: GasGrid, p_bar: float) -> float:
        """kg/s through the hole at gauge pressure ``p_bar`` (NaN: no pressure, no flow)."""
        if not math.isfinite(p_bar):
            return 0.0
        return orifice_mass_flow(p_bar * 1e5, self.hole_mm / 1000.0, cd=self.discharge_coefficient,
                                 molar_mass=grid.molar_mass)


def place_leak(grid: GasGrid, leak: Leak) -> Leak:
    """Split the leak's main at the hole and give it a sink (closed until the leak opens)."""
    import pandapipes as pp

    if not grid.has_main(leak.main):
        raise GasNetworkError(f"gas leak on {leak.main}: no gas main of that id in the network")
    leak.junction, leak.xy = grid.split(leak.main, leak.along)
    leak.sink = int(pp.create_sink(grid.net, leak.junction, mdot_kg_per_s=0.0, name=f"leak on {leak.main}"))
    return leak


@dataclass
class Solution:
    """One steady state: gauge pressure (bar) of every junction, mass flow (kg/s) of every pipe, the leaks'
    flows (kg/s), in the order of the net's junction and pipe tables and of the leaks given."""

    p_bar: np.ndarray
    mdot_pipe: np.ndarray
    leak_kg_s: np.ndarray
    iterations: int
    regulators_on: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def solve(grid: GasGrid, leaks=(), *, tol: float = 1e-6, max_iter: int = 60) -> Solution:
    """The steady state of ``grid`` with ``leaks`` (the open ones leak), by the iteration in the module doc."""
    import pandapipes as pp
    from pandapipes.pf.pipeflow_setup import PipeflowNotConverged

    net = grid.net
    reg = grid.regulators
    leaks = list(leaks)
    active = [k for k, lk in enumerate(leaks) if lk.open]
    m = np.zeros(len(leaks))
    lo = np.zeros(len(leaks))
    hi = np.full(len(leaks), np.inf)
    g_prev = np.full(len(leaks), np.nan)
    m_prev = np.zeros(len(leaks))
    for lk in leaks:
        net.sink.at[lk.sink, "mdot_kg_per_s"] = 0.0
    if len(reg):
        on = np.ones(len(reg), dtype=bool)
        flow = np.zeros(len(reg))
        inlet, eg, sk = reg["inlet"].to_numpy(int), reg["ext_grid"].to_numpy(int), reg["sink"].to_numpy(int)
        set_bar = reg["set_bar"].to_numpy(float)
        net.ext_grid.loc[eg, "in_service"] = True
        net.sink.loc[sk, "mdot_kg_per_s"] = 0.0
    else:
        on = np.zeros(0, dtype=bool)
    scale = float(net.sink["mdot_kg_per_s"].abs().sum()) if len(net.sink) else 0.0
    for it in range(1, max_iter + 1):
        try:
            pp.pipeflow(net, **grid.options)
        except PipeflowNotConverged:
            raise GasNetworkError(f"gas network: the pipeflow did not converge (iteration {it} of the "
                                  f"regulator and leak loop)") from None
        if not net.converged:
            raise GasNetworkError("gas network: the pipeflow did not converge")
        p = net.res_junction["p_bar"].to_numpy(float)
        done = True
        if len(reg):
            pin = p[inlet]
            ok = np.isfinite(pin) & (pin > set_bar)
            delivered = -np.nan_to_num(net.res_ext_grid["mdot_kg_per_s"].to_numpy(float)[eg]) * on
            new = np.where(ok, np.maximum(delivered, 0.0), 0.0)
            if (ok != on).any() or np.abs(new - flow).max() > tol * max(scale, 1e-9):
                done = False
            on, flow = ok, new
            net.ext_grid.loc[eg, "in_service"] = on
            net.sink.loc[sk, "mdot_kg_per_s"] = flow
        for k in active:
            lk = leaks[k]
            target = lk.mass_flow(grid, float(p[lk.junction]))
            g = m[k] - target
            if g <= 0:
                lo[k] = max(lo[k], m[k])
            else:
                hi[k] = min(hi[k], m[k])
            if abs(g) <= tol * max(target, 1e-9):
                continue
            done = False
            if not np.isfinite(g_prev[k]) or g == g_prev[k]:
                step = target
            else:
                step = m[k] - g * (m[k] - m_prev[k]) / (g - g_prev[k])
            if not (lo[k] < step < hi[k]):
                step = 0.5 * (lo[k] + hi[k]) if np.isfinite(hi[k]) else max(target, lo[k])
            m_prev[k], g_prev[k] = m[k], g
            m[k] = step
            net.sink.at[lk.sink, "mdot_kg_per_s"] = m[k]
        if done:
            mdot = net.res_pipe["mdot_from_kg_per_s"].to_numpy(float)
            return Solution(p.copy(), mdot.copy(), m.copy(), it, on.copy())
    raise GasNetworkError(f"gas network: the regulators and leaks did not settle in {max_iter} pipeflows")
