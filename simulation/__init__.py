"""Engines that run on the twin: hydraulics, emergency response, sensors and replay, one clock.

No Qt here: every engine runs and is tested headless.
"""
