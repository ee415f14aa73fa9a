"""Orders given at fixed clock times: a crew's work scripted, published as events on the session.

:class:`Orders` is a small engine for benches, tests and what-if runs that
need a crew's orders (a main shut off, repaired, opened again) at set times
without the emergency response deciding them: each ``(clock time, kind,
feature)`` is published at its time as an event of ``kind`` on ``layer``.
"""

from __future__ import annotations


class Orders:
    """Publish ``(clock time, kind, feature)`` orders on ``layer`` at their times, as source ``name``."""

    def __init__(self, orders, layer: str = "gas_mains", name: str = "crew"):
        self.orders = sorted(orders)
        self.layer, self.name = layer, name

    def attach(self, session) -> None:
        self.session = session

    def advance_to(self, t: float) -> None:
        while self.orders and self.orders[0][0] <= t:
            at, kind, feature = self.orders.pop(0)
            self.session.publish(at, kind, self.name, self.layer, feature, None, f"{kind} {feature}")
