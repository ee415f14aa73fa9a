"""An analysis in a process of its own, its progress relayed back and a stop honoured at once.

EPANET is called through ``ctypes.PyDLL`` (see :func:`twin.epanet.library`),
which keeps Python's interpreter lock for the whole of every call: a sweep on
a thread of the desktop window would hold the lock for most of its time and
the window's event loop would wait for it (measured in
``bench/bench_window_latency.py``).  :func:`run_apart` runs the analysis in a
fresh Python process instead: the window's thread only waits on a pipe.

``progress(done, total)`` is told what the analysis reports, and again every
``beat`` seconds with the last figures (``(0, 0)`` until the first), so a
caller that stops by raising from it (the window's Cancel) is heard within a
beat even while the process starts up.  Whatever ``progress`` or ``stages``
raises ends the process at once and goes up to the caller; an error inside the
analysis comes back as itself (or as a :class:`RuntimeError` with its text when
it cannot travel); a process that dies says how.

The process is started by ``spawn`` (never a fork of a process running Qt and
VTK threads): like Dask's local cluster, a script that calls this needs the
``if __name__ == "__main__":`` guard.  Starting it costs a few seconds of
imports, so this is for long work (sweeps), not for a single solve.
"""

from __future__ import annotations

import multiprocessing
import traceback
from typing import Callable


def _child(conn, fn, args, kwargs, relay_progress: bool, relay_stages: bool) -> None:
    import threading

    from tqdm import tqdm

    # tqdm's default lock is a multiprocessing semaphore, which a stopped process would leave
    # behind ("resource_tracker: leaked semaphore objects"); a thread lock serves one process
    tqdm.set_lock(threading.RLock())
    if relay_progress:
        kwargs["progress"] = lambda done, total: conn.send(("progress", int(done), int(total)))
    if relay_stages:
        kwargs["stages"] = lambda text: conn.send(("stage", str(text)))
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # sent back whole: the caller raises it as if it ran in its own process
        try:
            conn.send(("error", exc, traceback.format_exc()))
        except Exception:  # an exception that does not pickle travels as its text
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), traceback.format_exc()))
        return
    conn.send(("done", result))


def run_apart(fn: Callable, *args, progress: Callable[[int, int], None] | None = None,
              stages: Callable[[str], None] | None = None, beat: float = 0.1, **kwargs):
    """``fn(*args, **kwargs)`` in a new Python process; its result, as if called here.

    ``fn`` and its arguments must pickle (a module-level function, a
    :class:`~simulation.hydraulics.system.WaterSystem` without its twin).
    With ``progress``, ``fn`` is given a ``progress=`` callable whose reports
    come back here; with ``stages``, a ``stages=`` callable likewise.
    """
    ctx = multiprocessing.get_context("spawn")   # never fork a process holding Qt and VTK threads
    here, there = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(there, fn, args, kwargs, progress is not None, stages is not None),
                        daemon=True, name=f"lifeline-{getattr(fn, '__name__', 'analysis')}")
    child.start()
    there.close()
    last = (0, 0)
    try:
        while True:
            if not here.poll(beat):
                if not child.is_alive() and not here.poll(0):
                    raise RuntimeError(f"the process running {getattr(fn, '__name__', 'the analysis')} ended "
                                       f"without an answer (exit code {child.exitcode})")
                if progress is not None:
                    progress(*last)
                continue
            try:
                message = here.recv()
            except EOFError:
                child.join(5)
                raise RuntimeError(f"the process running {getattr(fn, '__name__', 'the analysis')} ended "
                                   f"without an answer (exit code {child.exitcode})") from None
            kind = message[0]
            if kind == "progress":
                last = message[1:]
                if progress is not None:
                    progress(*last)
            elif kind == "stage":
                if stages is not None:
                    stages(message[1])
            elif kind == "error":
                exc = message[1]
                exc.__notes__ = [*getattr(exc, "__notes__", []), f"in the child process:\n{message[2]}"]
                raise exc
            else:
                return message[1]
    finally:
        here.close()
        if child.is_alive():
            child.terminate()
        child.join(5)
