"""Leases on running trials: who runs a trial, until when, and the heartbeat renewing it.

Several processes may share one trial store. Each running trial's row names its
owner (a worker id: host, pid and a random token) and a lease expiry that the
owner's heartbeat keeps pushing forward. Another process takes a running trial
only when its lease has expired (its worker died or hung for longer than the
lease), or at once when the owner is a process of this machine that no longer
exists (e.g. killed with SIGKILL).

The heartbeat is a daemon thread with its own SQLite connection, not renewals
from the search loop: an in-process evaluation blocks the loop for a whole
Keras epoch (minutes, with no report in between), which would force a lease
longer than any epoch. A thread renews every lease this worker holds in one
`UPDATE` every `lease_seconds / 4`, whatever the loop is doing, and dies with
the process, so a killed worker's leases simply stop being renewed.

Leases compare wall clocks of the processes sharing a store; on one machine
they agree. (SQLite in WAL mode needs processes on one machine anyway: it
relies on shared memory, which network file systems do not provide.)

Example::

    owner = leases.worker_id()          # "myhost#1a2b3c4d:4242:9f8e7d6c"
    leases.is_gone(owner)               # False: this very process
"""

import hashlib
import os
import secrets
import socket
import sqlite3
import threading
from typing import Callable, Optional

from absl import logging

# Seconds a lease lasts unless renewed; `TrialStore(lease_seconds=...)` or this
# environment variable (read when a store opens) changes it, e.g. in tests.
LEASE_SECONDS_ENV = "SYMBOLIC_AUTOML_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 60.0


def default_lease_seconds() -> float:
    """The lease length: `$SYMBOLIC_AUTOML_LEASE_SECONDS`, else 60 s."""
    text = os.environ.get(LEASE_SECONDS_ENV)
    if text is None:
        return DEFAULT_LEASE_SECONDS
    return check_lease_seconds(text, f"${LEASE_SECONDS_ENV}")


def check_lease_seconds(value, what: str = "lease_seconds") -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}.")
    return seconds


def _node() -> str:
    """This machine and PID namespace: pids are only comparable within one."""
    parts = []
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(os.readlink(path) if path.endswith("/pid") else open(path).read())
        except OSError:
            pass
    tag = hashlib.sha1("|".join(parts).encode()).hexdigest()[:8] if parts else "unknown"
    return f"{socket.gethostname()}#{tag}"


def worker_id() -> str:
    """A new worker id, `host#node:pid:token`, unique to the caller."""
    return f"{_node()}:{os.getpid()}:{secrets.token_hex(4)}"


def is_gone(owner: Optional[str]) -> bool:
    """Whether `owner` is known to be dead: a process of this machine that no longer runs.

    Only this machine's processes can be checked; any other owner (or one that
    cannot be parsed) counts as alive until its lease expires.
    """
    if not owner:
        return False
    try:
        node, pid, _ = owner.rsplit(":", 2)
        pid = int(pid)
    except ValueError:
        return False
    if node != _node() or pid == os.getpid() or os.name == "nt":
        return False  # (On Windows `os.kill(pid, 0)` would send the process Ctrl+C.)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: someone else's live process.
        return False
    try:  # A zombie (killed, not yet reaped by its parent) runs no more code.
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class Heartbeat:
    """A daemon thread calling `renew()` every `interval` seconds until `stop()`.

    Example::

        beat = Heartbeat(lambda: store.renew_leases(), interval=15.0)
        ...
        beat.stop()
    """

    def __init__(self, renew: Callable[[], None], interval: float,
                 on_stop: Optional[Callable[[], None]] = None):
        self._renew = renew
        self._interval = interval
        self._on_stop = on_stop
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="symbolic_automl-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stopped.wait(self._interval):
            try:
                self._renew()
            except Exception:  # pylint: disable=broad-except
                # A missed beat is survivable (the lease outlasts several beats);
                # a crashed thread would let every lease of this worker expire.
                logging.warning("Could not renew trial leases.", exc_info=True)
        if self._on_stop is not None:
            self._on_stop()

    def stop(self, wait: bool = True) -> None:
        """Ends the thread (after its current beat); with `wait`, waits for it."""
        self._stopped.set()
        if wait and self._thread is not threading.current_thread():
            self._thread.join()


def connect(path: str, busy_seconds: float) -> sqlite3.Connection:
    """An autocommit connection that waits up to `busy_seconds` for another writer."""
    return sqlite3.connect(path, timeout=busy_seconds, isolation_level=None,
                           check_same_thread=False)
