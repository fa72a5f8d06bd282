"""Ctrl-C and SIGTERM for long work: the first asks for a clean stop, a second SIGINT stops at once.

The first signal only sets an event: the training loop checkpoints where it is and the trial is released for
resume. The abort (the second) must not depend on where the main thread happens to be: a KeyboardInterrupt
raised there can land in a weakref callback or an atexit hook and be swallowed, or stop orbax mid-save and
leave its writer threads failing at shutdown. So the abort runs the callbacks registered with `on_abort`
(give held trials back; tell worker processes), prints one line and leaves with `os._exit(130)`: a trial whose
release did not go through is left `running` under a process that no longer exists, which the next run on
this host reclaims at once; the newest finished checkpoint is where it resumes.

Light on purpose (no JAX): a worker installs these handlers before it imports anything heavy.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

ABORT_EXIT_CODE = 130
_on_abort: list[Callable[[], None]] = []


def on_abort(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` (quick, best effort) if this process is aborted; returns the function that unregisters it."""
    _on_abort.append(callback)
    return lambda: _on_abort.remove(callback) if callback in _on_abort else None


def abort(quiet: bool = False) -> None:
    """Run the abort callbacks (their errors ignored) and leave the process at once with exit code 130."""
    for callback in reversed(list(_on_abort)):
        try:
            callback()
        except Exception:  # leaving anyway; the store stays reclaimable
            pass
    if not quiet:
        print("aborted", file=sys.stderr, flush=True)
    os._exit(ABORT_EXIT_CODE)


def stop_on_signals(*, sigterm_aborts: bool = True, quiet: bool = False) -> threading.Event:
    """Install SIGINT and SIGTERM handlers: the first signal sets the returned event; a second SIGINT aborts
    (`abort`), as does a second SIGTERM when `sigterm_aborts`.

    Worker processes of the processes executor pass `sigterm_aborts=False` (and `quiet`): their parent forwards
    a stop as one SIGTERM and an abort as one SIGINT, so a stop they also got from their process group (Ctrl-C
    on a terminal, `kill -TERM -PGID`) never counts twice.
    """
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            if signum == signal.SIGINT or sigterm_aborts:
                abort(quiet)
            return
        stop.set()  # before printing: a signal arriving during the print runs this handler again, as a second one
        if not quiet:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            print(f"\n{name}: stopping after this step, with a checkpoint (Ctrl-C again to abort)...", flush=True)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop
