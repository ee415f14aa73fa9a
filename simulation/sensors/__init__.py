"""Sensors of the twin: recorded and live readings, graded alarms, leak and methane detection.

* :mod:`.registry` — the twin's ``sensors`` layer as :class:`~.registry.Sensor` objects;
* :mod:`.store` — readings (and moving sensors' positions) in day-partitioned Parquet beside the project;
* :mod:`.importers` — BattLeDIM SCADA, Picarro methane logs, BWDF inflows, generic CSV/Parquet;
* :mod:`.live` — the MQTT feed and the recorder with a bounded loss on crash;
* :mod:`.replay` — values at any clock time and alarms in step with :class:`simulation.clock.Clock`;
* :mod:`.alarms` — :class:`~.alarms.Alarm` events in four levels, the stream the emergency engine consumes;
* :mod:`.methane` — gas-main leak or biogas, with the reason;
* :mod:`.leaks` — minimum night flow + CUSUM on a DMA's inflow, and the L-Town leak simulator for tests;
* :mod:`.drill` — the demo city's recorded drill day.
"""
