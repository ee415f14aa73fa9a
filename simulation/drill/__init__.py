"""Drills: a master scenario events list, an exercise controller and trainees on one session clock.

:mod:`~simulation.drill.model` reads drill and actions files, :mod:`~simulation.drill.controller`
plays them on a :class:`~simulation.session.Session`, :mod:`~simulation.drill.scoring` scores
what the trainees did against what was expected and :mod:`~simulation.drill.report` writes the
after-action report.  No Qt here.
"""
