"""Shared by the bench scripts: the best wall time of repeated runs (the least disturbed by the load)."""

import time


def best_of(repeat: int, func) -> float:
    """Seconds of the fastest of ``repeat`` calls of ``func()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)
