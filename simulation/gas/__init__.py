"""Gas distribution on pandapipes: the twin's gas mains as a network, leaks, and methane in the ground.

* :mod:`simulation.gas.network` — the twin's gas mains -> a pandapipes network (:func:`gas_network`);
* :mod:`simulation.gas.leak` — a leak as a pressure-dependent outflow, and the steady-state solve;
* :mod:`simulation.gas.engine` — :class:`GasNetwork`, the network stepped on the session clock;
* :mod:`simulation.gas.migration` — :class:`Migration`, methane from the leaks into wells, septic tanks
  and tunnels, read by their sensors and fed to the alarm engine.

``docs/gas.md`` states every rule with its source.
"""
