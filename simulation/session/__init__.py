"""The live twin: one session, one clock time, one event stream; engines stepped on it (see :mod:`.session`)."""

from simulation.session.events import KINDS, Event, EventLog
from simulation.session.session import Session

__all__ = ["KINDS", "Event", "EventLog", "Session"]
