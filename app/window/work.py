"""Long work off the window's thread: sweeps, replications, imports and scenario runs, with progress and Cancel.

A :class:`Job` runs one function on a new Python thread of its own (not a
pooled Qt thread: Qt reuses pooled threads while Python forgets their thread
state in between, and pyproj's per-thread PROJ context goes with it, so a
CRS made in one job crashed the process when a later job on the same pooled
thread used it).  The function receives a :class:`Progress` and calls
``progress(done, total, text)`` as it goes; that call raises
:class:`Cancelled` once the user has pressed Cancel, so the work stops at its
next step.  The worker never touches a widget: it reports through queued Qt
signals (``progressed``, ``finished``, ``failed``, ``cancelled``) that the
window's thread receives.  The event loop stays free while the job runs.

:class:`WorkBar` is the status-bar widget: the running job's text, a
progress bar and a Cancel button.
"""

from __future__ import annotations

import threading
import traceback
from typing import Callable

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class Cancelled(Exception):
    """Raised inside a job's function when the user cancelled it."""


class Progress:
    """What a job's function calls to report progress; raises :class:`Cancelled` after Cancel."""

    def __init__(self, job: "Job"):
        self._job = job

    def __call__(self, done: int, total: int, text: str = "") -> None:
        if self._job.cancel_requested.is_set():
            raise Cancelled(self._job.title)
        self._job.signals.progressed.emit(int(done), int(total), str(text))

    @property
    def cancelled(self) -> bool:
        return self._job.cancel_requested.is_set()


class _Signals(QObject):
    progressed = pyqtSignal(int, int, str)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal()


class Job:
    """``fn(progress, *args)`` on a worker thread; its result or error comes back as a signal."""

    def __init__(self, title: str, fn: Callable, *args, **kwargs):
        self.title = title
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = _Signals()
        self.cancel_requested = threading.Event()
        self.done = threading.Event()
        self.result = None
        self.error: str | None = None

    def cancel(self) -> None:
        self.cancel_requested.set()

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"job: {self.title}", daemon=True)
        self.thread.start()

    def run(self) -> None:  # on the worker thread
        try:
            self.result = self.fn(Progress(self), *self.args, **self.kwargs)
        except Cancelled:
            self.done.set()
            self.signals.cancelled.emit()
            return
        except Exception as exc:  # reported to the user, with the traceback in the log panel
            self.error = f"{self.title}: {exc}"
            self.trace = traceback.format_exc()
            self.done.set()
            self.signals.failed.emit(self.error)
            return
        self.done.set()
        self.signals.finished.emit(self.result)


class WorkBar(QWidget):
    """The status bar's job display: what runs, how far, and Cancel."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel-work")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.bar, self.cancel_button):
            row.addWidget(w)
        self.job: Job | None = None
        self._active: Job | None = None
        self.cancel_button.clicked.connect(self._cancel)
        self.setVisible(False)

    def start(self, title: str, fn: Callable, *args, on_done: Callable | None = None,
              on_failed: Callable | None = None, on_cancelled: Callable | None = None, **kwargs) -> Job:
        """Run ``fn(progress, *args, **kwargs)`` off the window's thread; one job at a time."""
        if self._active is not None and not self._active.done.is_set():
            raise RuntimeError(f"{self.job.title} is still running; cancel it or wait")
        job = self.job = Job(title, fn, *args, **kwargs)
        self.label.setText(title)
        # a determinate bar from the start: Qt's busy (indeterminate) bar repaints some 57 times a second,
        # which alone cost the event loop 26-45 ms at p99 under Xvfb (bench/bench_window_latency.py)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.cancel_button.setEnabled(True)
        self.setVisible(True)
        conn = Qt.ConnectionType.QueuedConnection
        job.signals.progressed.connect(self._progressed, conn)
        job.signals.finished.connect(lambda result: self._end(job, on_done, result), conn)
        job.signals.failed.connect(lambda text: self._end(job, on_failed, text), conn)
        job.signals.cancelled.connect(lambda: self._end(job, on_cancelled), conn)
        self._active = job
        job.start()
        return job

    @property
    def busy(self) -> bool:
        """A job is running, or has ended and its result is not yet handed to the window."""
        return self._active is not None

    def _progressed(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        if text:
            self.label.setText(f"{self.job.title}: {text}" if self.job else text)

    def _cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(f"{self.job.title}: cancelling…")

    def _end(self, job: Job, callback: Callable | None, *args) -> None:
        self.setVisible(False)
        try:
            if callback is not None:
                callback(*args)
        finally:
            if self._active is job:   # the callback may have started the next job
                self._active = None
