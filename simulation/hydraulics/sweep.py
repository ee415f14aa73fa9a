"""Many scenarios of one network, in parallel on Dask: failures recorded, progress shown, Ctrl-C clean.

A sweep is a *study* (a picklable object with ``prepare()`` run once per worker
process and ``evaluate(state, scenario)`` run per scenario) and a list of
scenarios.  Each Dask worker prepares the study once — opens the network in
EPANET, solves the baseline — and keeps it in a per-process cache, so a
scenario costs one solve and a few array reads.  Scenarios travel in batches to
keep Dask's per-task overhead (about a millisecond) small next to the solves.

``workers=0`` runs in this process (no Dask); ``workers=N`` starts a
LocalCluster of N single-threaded worker processes (never more than there are
scenarios, nor :data:`WORKERS_PER_CPU` per CPU core); ``scheduler="tcp://host:port"``
uses an existing cluster.  A scenario that raises (EPANET error, no
convergence) becomes an :class:`Outcome` with its reason and the sweep goes
on.  On Ctrl-C every pending batch is cancelled, the local cluster shut down,
and ``KeyboardInterrupt`` re-raised, so no caller writes results as if complete.

``progress`` is ``True`` for a bar on stderr, or a callable ``progress(done,
total)`` told after every scenario (in this process) or batch (on Dask): the
desktop window's progress bar.  Whatever it raises (the window's Cancel) stops
the sweep the same way Ctrl-C does and goes up to the caller.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from twin.errors import TwinError

_STATES: dict[tuple[str, int], Any] = {}


@dataclass
class Outcome:
    """The result of one scenario: ``value`` (a dict of scores) or ``error`` (why it failed)."""

    scenario: Any
    value: dict | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class Study:
    """Base for sweepable studies; subclasses set what ``prepare``/``evaluate`` do."""

    def __init__(self):
        self.key = uuid.uuid4().hex

    def prepare(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self, state: Any, scenario: Any) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def state(self) -> Any:
        """This process's (and thread's) prepared state for the study, made on first use."""
        k = (self.key, threading.get_ident())
        st = _STATES.get(k)
        if st is None:
            # one study at a time per worker: drop states of earlier studies (their solvers close)
            for old in [o for o in _STATES if o[0] != self.key]:
                _STATES.pop(old, None)
            st = _STATES[k] = self.prepare()
        return st


def run_batch(study: Study, scenarios: list) -> list[Outcome]:
    """Evaluate scenarios one after the other on this worker's prepared study."""
    state = study.state()
    out = []
    for sc in scenarios:
        t0 = time.perf_counter()
        try:
            out.append(Outcome(sc, study.evaluate(state, sc), None, time.perf_counter() - t0))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # recorded with its reason; the sweep goes on
            reason = str(exc).strip() or type(exc).__name__
            out.append(Outcome(sc, None, reason, time.perf_counter() - t0))
    return out


@dataclass
class SweepReport:
    outcomes: list[Outcome]
    seconds: float
    workers: int
    setup_seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def _batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


#: How long to keep trying an existing scheduler (``--scheduler``) before giving up, s.
SCHEDULER_TIMEOUT_S = 20.0


class SchedulerUnreachable(TwinError):
    """The Dask scheduler given by address does not answer."""


def sweep(study: Study, scenarios: Iterable, *, workers: int = 0, scheduler: str | None = None,
          progress: bool | Callable[[int, int], None] = False, desc: str = "scenarios",
          batch_size: int | None = None,
          cluster_threshold_s: float | None = None) -> SweepReport:
    """Evaluate every scenario; outcomes come back in the order of ``scenarios``.

    ``cluster_threshold_s``: before starting a local cluster (a few seconds),
    time a first batch here; when the whole sweep would take less than this in
    one process, finish it here instead (the report then says 1 worker).
    """
    scenarios = list(scenarios)
    bar = _Bar(len(scenarios), desc, progress)
    t0 = time.perf_counter()
    try:
        if not scenarios:
            return SweepReport([], 0.0, 0)
        if scheduler is None and workers > 0 and cluster_threshold_s:
            study.state()
            setup = time.perf_counter() - t0
            probe = scenarios[:min(len(scenarios), 8)]
            t1 = time.perf_counter()
            done = run_batch(study, probe)
            bar.update(len(probe))
            estimate = (time.perf_counter() - t1) / len(probe) * len(scenarios)
            if estimate < cluster_threshold_s:
                return _in_process(study, scenarios[len(probe):], bar, t0, setup, done)
            # enough work for a cluster: the probe's results stand, the rest goes to the workers
            report = _sweep_dask(study, scenarios[len(probe):], workers, scheduler, bar, batch_size, t0)
            report.outcomes = done + report.outcomes
            return report
        if scheduler is None and workers <= 0:
            study.state()
            return _in_process(study, scenarios, bar, t0, time.perf_counter() - t0, [])
        return _sweep_dask(study, scenarios, workers, scheduler, bar, batch_size, t0)
    finally:
        bar.close()


def _in_process(study, scenarios, bar, t0, setup, done) -> SweepReport:
    outcomes = list(done)
    # one scenario at a time when someone is told of each (a Cancel then stops at the next scenario)
    for batch in _batches(scenarios, 1 if bar.callback is not None else 16):
        outcomes.extend(run_batch(study, batch))
        bar.update(len(batch))
    return SweepReport(outcomes, time.perf_counter() - t0, 1, setup)


class _Bar:
    """The sweep's progress: a tqdm bar on stderr, or a callable told ``(done, total)``."""

    def __init__(self, total: int, desc: str, progress):
        from tqdm import tqdm

        self.callback = progress if callable(progress) else None
        self.total, self.done = total, 0
        self.tqdm = tqdm(total=total, desc=desc, unit="scn", file=sys.stderr,
                         disable=self.callback is not None or not progress, leave=False, dynamic_ncols=True)
        if self.callback is not None:
            self.callback(0, total)

    def update(self, n: int) -> None:
        self.done += n
        self.tqdm.update(n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        self.tqdm.close()


#: A local cluster never has more worker processes than this many per CPU core (nor more than scenarios).
WORKERS_PER_CPU = 4


def worker_cap() -> int:
    """The most local worker processes a sweep starts on this machine."""
    return WORKERS_PER_CPU * (os.cpu_count() or 1)


def _sweep_dask(study, scenarios, workers, scheduler, bar, batch_size, t0) -> SweepReport:
    if not scenarios:
        return SweepReport([], time.perf_counter() - t0, workers or 1)
    if not scheduler:  # an idle worker only costs a process, its memory and its start-up
        workers = max(1, min(workers, len(scenarios), worker_cap()))
    import dask
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    # the worker profiler walks every thread's stack each 10 ms for the GIL: pure overhead for solves
    with dask.config.set({"distributed.worker.daemon": False, "logging.distributed": "critical",
                          "distributed.worker.profile.enabled": False}):
        if scheduler:
            try:
                client = Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S:g}s")
            except (OSError, TimeoutError) as exc:  # refused, unknown host, timed out: the user's address
                raise SchedulerUnreachable(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        else:
            # No dashboard, and the scheduler's small HTTP server (health checks) on a free
            # loopback port: with dashboard_address=None alone it still takes 8787 and warns
            # "Port 8787 is already in use" whenever another cluster or a notebook holds it.
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=50)
            client = None
            try:
                client = Client(cluster)
                # every worker registered before preparing, or a late one prepares inside the timed sweep
                client.wait_for_workers(workers, timeout=120)
            except BaseException:
                # a cluster left open leaks its worker processes and their semaphores
                # ("resource_tracker: ... leaked semaphore objects" at exit)
                if client is not None:
                    client.close()
                cluster.close()
                raise
    futures = []
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers or 1)
        if batch_size is None:
            # enough batches for balance (8 per worker), few enough that Dask's overhead is noise
            batch_size = max(1, min(64, math.ceil(len(scenarios) / (8 * n_workers))))
        remote = client.scatter(study, broadcast=True)
        # prepare every worker (open the network, solve the baseline) in its task thread, so the
        # scenarios that follow find the state ready (single-threaded workers reuse that thread)
        addresses = list(client.scheduler_info().get("workers", {}))
        client.gather([client.submit(_prepare_on_worker, remote, workers=[a], pure=False,
                                     allow_other_workers=False) for a in addresses])
        setup = time.perf_counter() - t0
        batches = _batches(scenarios, batch_size)
        futures = [client.submit(run_batch, remote, b, pure=False) for b in batches]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[list[Outcome] | None] = [None] * len(batches)
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                results[i] = fut.result()
            except Exception as exc:  # the worker died or the batch could not run: record, go on
                reason = f"worker failure: {str(exc).strip() or type(exc).__name__}"
                results[i] = [Outcome(sc, None, reason) for sc in batches[i]]
            bar.update(len(batches[i]))
        outcomes = [o for r in results for o in (r or [])]
        return SweepReport(outcomes, time.perf_counter() - t0, n_workers, setup)
    except BaseException:  # Ctrl-C, or the progress callback's Cancel: nothing more is computed
        for f in futures:
            f.cancel()
        raise
    finally:
        try:
            client.run(_forget, study.key)
        except Exception:
            pass
        client.close()
        if cluster is not None:
            cluster.close()


def _prepare_on_worker(study) -> int:
    study.state()
    return os.getpid()


def _forget(key: str) -> None:
    for k in [k for k in _STATES if k[0] == key]:
        _STATES.pop(k, None)
