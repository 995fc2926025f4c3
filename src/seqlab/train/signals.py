"""Stopping a run cleanly on Ctrl-C (SIGINT) and on SIGTERM, what cluster schedulers send.

While ``stop_on_signals(request_stop)`` is active, either signal calls ``request_stop(name)``
instead of killing the process: the trainer finishes the batch it is in, writes a
checkpoint and returns, so ``--resume`` continues exactly. Outside it (loading data,
building the model) the signals keep their usual effect, as nothing is lost there.
Only the main thread may install signal handlers; elsewhere this does nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# the exit status of a run stopped by each: 128 + the signal's number, as a shell reports it
EXIT_STATUS = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


@contextlib.contextmanager
def stop_on_signals(request_stop: Callable[[str], None]):
    """Route SIGINT and SIGTERM to ``request_stop(signal name)`` for the duration; restore after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    try:
        for sig in STOP_SIGNALS:
            old[sig] = signal.signal(sig, lambda signum, frame: request_stop(signal.Signals(signum).name))
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
