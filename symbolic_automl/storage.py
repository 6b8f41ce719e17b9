"""`TrialStore`: every trial of one experiment in one SQLite file.

Each change is committed before the search moves on, so killing the process at
any moment loses no finished trial. The file carries an application id, so a
foreign or corrupt file is refused with a clear error instead of being written;
a changed schema or a garbage row is a `StoreError` on every read and write.

Several processes of one machine may share a store, each as a worker: trials
are leased to the worker running them (`symbolic_automl.leases`), ids are
allocated as `max(id) + 1` in the inserting transaction, every update checks the
status and owner it expects, and `finished_since` tells each worker what the
others finished. Writers wait for each other (a busy timeout), never fail.

Several searches can share one file as *studies* (a nested search records each
inner search as the study of the outer trial that ran it): every row names its
study (NULL: the experiment's main search) and the trial whose evaluation ran
it (`parent_id`); a store reads, counts, claims and budgets only its own
study's trials, and keeps its metadata apart; ids are unique across the file.

Example::

    store = TrialStore("runs/exp1/trials.sqlite")
    for trial in store.trials():
        print(trial.id, trial.status, trial.reward)
"""

import dataclasses
import json
import os
import sqlite3
import time
import weakref
from typing import Any, Dict, List, Optional, Tuple

from symbolic_automl import errors
from symbolic_automl import leases
from symbolic_automl import trial as trial_lib

# 'SAML' in ASCII: marks files written by this library.
APPLICATION_ID = 0x53414D4C
# 2: leases (owner, lease_until) and the finish sequence (finished_seq). Version-1
# libraries refuse such a store: they would take other workers' live trials.
SCHEMA_VERSION = 2
FILENAME = "trials.sqlite"

# Running trials (leases), rejected ones (the budget) and the finish sequence are
# found without scanning every trial. A trial has no `finished_seq` until it is
# finished, so the finish-sequence index also finds the running ones: one index
# written per trial, not two (each costs a page per commit). The rejected index
# is partial: written only on a rejection. (A partial index serves only queries
# with the very same condition text, hence the constant.)
_IS_RUNNING = f"finished_seq IS NULL AND status = '{trial_lib.RUNNING}'"
_IS_REJECTED = f"status = '{trial_lib.REJECTED}'"
# The rows of one store's study (a parameter: None is the main search).
_IN_STUDY = "study IS ?"
# The same, where a sharper index serves the query (the running trials, the
# latest finishes, the rejected ones): the unary + keeps SQLite from choosing
# the study index, which for the main search is every trial.
_ALSO_IN_STUDY = "+study IS ?"
_NEXT_SEQ = "(SELECT COALESCE(MAX(finished_seq), 0) + 1 FROM trials)"
_INDEXES = f"""
CREATE INDEX IF NOT EXISTS trials_rejected ON trials (id) WHERE {_IS_REJECTED};
CREATE INDEX IF NOT EXISTS trials_by_finished_seq ON trials (finished_seq);
CREATE INDEX IF NOT EXISTS trials_by_study ON trials (study, id);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    dna TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT,
    metrics TEXT,
    reward TEXT,
    error TEXT,
    created REAL NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    decisions TEXT,
    owner TEXT,
    lease_until REAL,
    finished_seq INTEGER,
    study TEXT,
    parent_id INTEGER
);
CREATE TABLE IF NOT EXISTS measurements (
    trial_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    elapsed REAL NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (trial_id, step)
);
""" + _INDEXES



class TrialStore:
    """SQLite trial store that several processes may share; `path=None` keeps it in memory.

    Each process opening the store is a worker with its own id (`worker`). A
    trial it adds or claims is leased to it: its row names the worker and a
    lease expiry that a heartbeat thread renews (see `symbolic_automl.leases`).
    Other workers never take a trial whose lease is live; one whose worker
    died is claimed by exactly one of them (`claim_expired`) and runs again
    under its own id. Ids are allocated inside the inserting transaction as
    `max(id) + 1`, so they are never reused. Every update names the status and
    owner it expects and checks that it changed exactly one row: a trial
    finished twice is a `StoreError`, and a trial another worker claimed in the
    meantime is a `LeaseLostError` (this worker's result is dropped).

    Args:
      path: the SQLite file (created with its directory), or None for memory.
      lease_seconds: how long a trial's lease lasts without a heartbeat;
        default `$SYMBOLIC_AUTOML_LEASE_SECONDS`, else 60. The heartbeat renews
        every quarter of it.
      busy_seconds: how long a write waits for another process's write to
        finish before failing with a `StoreError`.
      study: which search of the file this store reads and writes (None: the
        main one); other studies' trials and metadata are not seen.
      parent_id: the trial (of another study) whose evaluation runs this study,
        recorded on each of its trials as `Trial.parent_id`.

    Example::

        store = TrialStore("runs/exp1/trials.sqlite")
        trial_id = store.add(trial, budget=100)     # None once 100 trials count
        ...
        store.finish(trial)                          # guarded: still ours, still running
        others, cursor = store.finished_since(cursor)  # what other workers finished
    """

    def __init__(self, path: Optional[str] = None, *, lease_seconds: Optional[float] = None,
                 busy_seconds: float = 30.0, study: Optional[str] = None,
                 parent_id: Optional[int] = None):
        if study is not None and (not isinstance(study, str) or not study):
            raise ValueError(f"study must be a non-empty name or None, got {study!r}.")
        if parent_id is not None and (not isinstance(parent_id, int) or isinstance(
                parent_id, bool) or parent_id < 1):
            raise ValueError(f"parent_id must be a positive trial id or None, got {parent_id!r}.")
        self.path = path
        self.study = study
        self.parent_id = parent_id
        self.worker = leases.worker_id()
        self.lease_seconds = (leases.default_lease_seconds() if lease_seconds is None
                              else leases.check_lease_seconds(lease_seconds))
        self._busy_seconds = busy_seconds
        self._heartbeat: Optional[leases.Heartbeat] = None
        if path is not None:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
        self._db = None
        try:
            self._db = leases.connect(path or ":memory:", busy_seconds)
            self._check_and_init()
        except (sqlite3.DatabaseError, errors.StoreError) as e:
            if self._db is not None:
                self._db.close()
            cause = e.__cause__ if isinstance(e, errors.StoreError) else e
            if not isinstance(cause, sqlite3.DatabaseError) or _is_busy(cause):
                raise
            raise errors.StoreError(
                f"{path} is not a readable symbolic_automl trial store "
                f"(SQLite said: {cause}). Move it away or pick another root_dir.") from cause

    @classmethod
    def in_dir(cls, root_dir: Optional[str], **kwargs) -> "TrialStore":
        return cls(None if root_dir is None else os.path.join(root_dir, FILENAME), **kwargs)

    def _check_and_init(self):
        db = self._db
        # One transaction: another process creating the store at the same time
        # is either wholly done or not started.
        with self._transaction():
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
            if app_id != APPLICATION_ID and tables:
                raise errors.StoreError(
                    f"{self.path} is a SQLite file of another program (application_id "
                    f"{app_id:#x}, tables {sorted(tables)}), not a symbolic_automl trial "
                    f"store; refusing to write to it.")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if tables and version > SCHEMA_VERSION:
                raise errors.StoreError(
                    f"{self.path} has store schema version {version}; this library reads "
                    f"up to version {SCHEMA_VERSION}. Upgrade symbolic_automl.")
            if not tables:
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                # Not executescript: it would commit halfway through.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
            else:
                add_missing_columns(db)
            if version != SCHEMA_VERSION:  # Opening an up-to-date store writes nothing.
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        if self.path is not None:
            # WAL + NORMAL: a commit survives the process being killed (not a power
            # cut), at a fraction of the cost of a full sync per trial; readers
            # and one writer of other processes do not block each other.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")

    def _transaction(self):
        return _Transaction(self._db, self.path)

    def _execute(self, sql: str, params=()) -> sqlite3.Cursor:
        return write(self._db, self.path, sql, params)

    def close(self, release: bool = True):
        """Stops the heartbeat and closes the file.

        With `release`, this worker's still-running trials are handed back
        (their leases end now), so another worker or a resumed search re-runs
        them at once instead of waiting for the leases to expire.
        """
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        try:
            if release:
                with self._transaction():
                    self._execute("UPDATE trials SET lease_until=0 WHERE owner=? AND "
                                  f"{_IS_RUNNING} AND {_ALSO_IN_STUDY}",
                                  (self.worker, self.study))
        except (errors.StoreError, sqlite3.ProgrammingError):
            pass  # Already closed, or the file is gone: nothing left to hand back.
        finally:
            self._db.close()

    # Experiment-level metadata.

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A metadata value: plain JSON, read with `json.loads` (never PyGlove's decoder)."""
        rows = self._rows("SELECT value FROM meta WHERE key=?", (self._meta_key(key),))
        return default if not rows else load_json(self.path, rows[0][0], f"meta {key!r}")

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction():
            self._execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                          (self._meta_key(key), json.dumps(value)))

    def _meta_key(self, key: str) -> str:
        return key if self.study is None else study_meta_key(self.study, key)

    # Trials.

    def add(self, trial: trial_lib.Trial, *, budget: Optional[int] = None) -> Optional[int]:
        """Records a new trial under a fresh id, leased to this worker while it runs.

        The id is allocated in the inserting transaction (`max(id) + 1`) and
        written to `trial.id`; the id the trial came with is ignored. Ids are
        unique across the file's studies; the trial joins this store's study
        and gets its `parent_id`.

        Args:
          trial: the new trial, usually `running`.
          budget: when given, the trial is only added while fewer than `budget`
            trials count towards it (`budget_used`, over every worker);
            checked in the same transaction, so workers never overshoot.

        Returns:
          The new id, or None when the budget is used up (nothing is recorded).
        """
        running = trial.status == trial_lib.RUNNING
        with self._transaction():
            if budget is not None and self._budget_used() >= budget:
                return None
            trial_id = self._execute("SELECT COALESCE(MAX(id), 0) + 1 FROM trials").fetchone()[0]
            self._execute(
                "INSERT INTO trials (id, dna, status, model, created, started, attempts, "
                "decisions, owner, lease_until, study, parent_id, finished_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                f"{'NULL' if running else _NEXT_SEQ})",
                (trial_id, trial_lib.trial_dna_json(trial), trial.status, trial.model_json,
                 trial.created, trial.started, trial.attempts,
                 None if trial.decisions is None else json.dumps(trial.decisions),
                 self.worker, self._lease_end() if running else None, self.study,
                 self.parent_id))
        trial.id = trial_id
        trial.parent_id = self.parent_id
        if running:
            self._start_heartbeat()
        return trial_id

    def claim_expired(self, limit: Optional[int] = None) -> List[trial_lib.Trial]:
        """Takes over running trials whose worker is gone, to run them again.

        A trial qualifies when its lease expired, or it has none (written by a
        version without leases), or its owner is a process of this machine that
        no longer exists; never a trial of this worker. Each claimed trial
        becomes this worker's, with `attempts + 1`, a new start time and its
        partial reports dropped; it keeps its id. Two workers claiming at once
        never get the same trial (one transaction).

        Args:
          limit: claim at most this many (e.g. the free slots); None: all.

        Returns:
          The claimed trials, in id order, as `running` records.
        """
        if limit is not None and limit <= 0:
            return []
        # A read first: the loop asks before every trial, and usually every
        # running trial is live; only a claim needs the write lock.
        if not self._claimable(self._rows(*self._running_of_others())):
            return []
        now = time.time()
        claimed_ids = []
        with self._transaction():
            for trial_id, owner in self._claimable(
                    self._execute(*self._running_of_others()).fetchall(), now):
                if limit is not None and len(claimed_ids) >= limit:
                    break
                self._claim(trial_id, owner, now)
                claimed_ids.append(trial_id)
            if not claimed_ids:
                return []
            marks = ",".join("?" * len(claimed_ids))
            trials = self._trials_where(f"id IN ({marks})", claimed_ids)
        self._start_heartbeat()
        return trials

    def _running_of_others(self):
        return (f"SELECT id, owner, lease_until FROM trials WHERE {_IS_RUNNING} AND "
                f"{_ALSO_IN_STUDY} "
                "AND (owner IS NULL OR owner != ?) ORDER BY id", (self.study, self.worker))

    def _claimable(self, rows, now: Optional[float] = None) -> List[Tuple[int, Optional[str]]]:
        """(id, owner) of the rows whose lease is over or whose worker is gone."""
        now = time.time() if now is None else now
        out = []
        for trial_id, owner, lease_until in rows:
            _check_lease_row(self.path, trial_id, owner, lease_until)
            if lease_until is None or lease_until < now or leases.is_gone(owner):
                out.append((trial_id, owner))
        return out

    def restart(self, trial: trial_lib.Trial) -> None:
        """Claims one interrupted trial to run it again, with `trial.attempts` and `started`.

        Raises:
          StoreError: the trial is not running, or another worker holds a live
            lease on it.
        """
        with self._transaction():
            rows = self._execute("SELECT status, owner, lease_until FROM trials WHERE id=?",
                                 (trial.id,)).fetchall()
            if not rows:
                raise errors.StoreError(f"{self.path}: there is no trial {trial.id} to restart.")
            status, owner, lease_until = rows[0]
            _check_lease_row(self.path, trial.id, owner, lease_until)
            if status != trial_lib.RUNNING:
                raise errors.StoreError(
                    f"{self.path}: trial {trial.id} is {status!r}, not running: refusing "
                    "to run it again over its record.")
            if (owner not in (None, self.worker) and lease_until is not None
                    and lease_until >= time.time() and not leases.is_gone(owner)):
                raise errors.StoreError(
                    f"{self.path}: trial {trial.id} is running in worker {owner} (lease "
                    f"valid for {lease_until - time.time():.0f} s more); refusing to take it.")
            self._claim(trial.id, owner, trial.started, attempts=trial.attempts)
        self._start_heartbeat()

    def _claim(self, trial_id: int, owner: Optional[str], started: float,
               attempts: Optional[int] = None) -> None:
        """Within a transaction: `trial_id` (running, held by `owner`) becomes ours."""
        cursor = self._execute(
            "UPDATE trials SET owner=?, lease_until=?, started=?, "
            "attempts=COALESCE(?, attempts + 1) WHERE id=? AND status=? AND owner IS ?",
            (self.worker, self._lease_end(), started, attempts, trial_id, trial_lib.RUNNING,
             owner))
        _check_one_row(self.path, cursor, f"claiming trial {trial_id}")
        self._execute("DELETE FROM measurements WHERE trial_id=?", (trial_id,))

    def add_measurement(self, trial_id: int, m: trial_lib.Measurement) -> None:
        """Records an intermediate report of a running trial of this worker.

        Raises:
          LeaseLostError: another worker claimed the trial meanwhile.
          StoreError: the trial is not running.
        """
        with self._transaction():
            cursor = self._execute(
                "INSERT OR REPLACE INTO measurements SELECT ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM trials WHERE id=? AND status=? AND owner=?)",
                (trial_id, m.step, m.elapsed, json.dumps(m.metrics), trial_id,
                 trial_lib.RUNNING, self.worker))
            if cursor.rowcount != 1:
                self._explain_guard_failure(trial_id, f"a report at step {m.step}")

    def finish(self, trial: trial_lib.Trial) -> None:
        """Records a trial's outcome (status, metrics, reward, error, model).

        Only a trial this worker runs is finished, exactly once; its lease ends.

        Raises:
          LeaseLostError: another worker claimed the trial meanwhile (it runs
            it again; this outcome is not recorded).
          StoreError: the trial is not running (finished already) or missing.
          ValueError: `trial.status` is not a final status.
        """
        if trial.status not in trial_lib.STATUSES or trial.status == trial_lib.RUNNING:
            raise ValueError(f"finish needs a final status, got {trial.status!r}; expected "
                             f"one of {[s for s in trial_lib.STATUSES if s != 'running']}.")
        with self._transaction():
            cursor = self._execute(
                "UPDATE trials SET status=?, model=?, metrics=?, reward=?, error=?, finished=?, "
                "lease_until=NULL, "
                f"finished_seq={_NEXT_SEQ} "
                "WHERE id=? AND status=? AND owner=?",
                (trial.status, trial.model_json, json.dumps(_jsonable_metrics(trial.metrics)),
                 json.dumps(trial.reward), trial.error, trial.finished, trial.id,
                 trial_lib.RUNNING, self.worker))
            if cursor.rowcount != 1:
                self._explain_guard_failure(trial.id, f"its outcome ({trial.status})")

    def _explain_guard_failure(self, trial_id: int, what: str) -> None:
        rows = self._execute("SELECT status, owner FROM trials WHERE id=?",
                             (trial_id,)).fetchall()
        if not rows:
            raise errors.StoreError(f"{self.path}: cannot record {what} of trial {trial_id}: "
                                    "no such trial.")
        status, owner = rows[0]
        if owner != self.worker:
            raise errors.LeaseLostError(
                f"{self.path}: trial {trial_id} was claimed by worker {owner} after this "
                f"worker's ({self.worker}) lease expired; {what} is dropped, the claimer's "
                "run is the one recorded.")
        raise errors.StoreError(
            f"{self.path}: cannot record {what} of trial {trial_id}: it is already {status!r}; "
            "refusing to overwrite its record.")

    def renew_leases(self) -> int:
        """Extends the lease of every running trial of this worker; returns how many.

        The heartbeat calls this on its own connection; calling it is only needed
        for a store whose heartbeat is not running.
        """
        with self._transaction():
            return _renew_leases(self._db, self.path, self.worker, self.lease_seconds)

    def _lease_end(self) -> float:
        return time.time() + self.lease_seconds

    def _start_heartbeat(self):
        if self._heartbeat is not None or self.path is None:
            return  # In memory, no other process can see (or take) the trials.
        db = leases.connect(self.path, self._busy_seconds)
        path, worker, seconds = self.path, self.worker, self.lease_seconds
        # The thread holds no reference to the store: a store dropped without
        # `close` is collected, and its heartbeat ends with it.
        self._heartbeat = leases.Heartbeat(lambda: _renew_leases(db, path, worker, seconds),
                                           interval=seconds / 4, on_stop=db.close)
        weakref.finalize(self, self._heartbeat.stop, wait=False)

    # Reading.

    def trials(self) -> List[trial_lib.Trial]:
        """Every recorded trial, in id order (see `trial_from_row`).

        Raises:
          StoreError: a row or the schema is not what this library writes.
        """
        with self._snapshot():
            return self._trials_where()

    def finished_since(self, cursor: int = 0) -> Tuple[List[trial_lib.Trial], int]:
        """Trials other workers finished after `cursor`, and the cursor to pass next.

        Every finish takes the next number of a store-wide sequence; the cursor
        is the highest number seen. Start from `cursor=0` (or the cursor of
        `snapshot`), then pass each returned cursor back: each trial finished
        by another worker is returned once, in the order they finished.
        """
        # One indexed look when nothing finished since; the cursor also moves
        # past this worker's own finishes (and other studies'), so each call
        # reads only what is new.
        latest = self._cursor()
        if latest <= cursor:
            return [], cursor
        # Finished rows never change again: bounded by `latest`, this is exact.
        trials = self._trials_where(  # This study's only (`_trials_where`).
            "finished_seq > ? AND finished_seq <= ? AND (owner IS NULL OR owner != ?)",
            (cursor, latest, self.worker), order="finished_seq")
        return trials, latest

    def snapshot(self) -> Tuple[List[trial_lib.Trial], int]:
        """Every trial and the `finished_since` cursor of that same moment."""
        with self._snapshot():
            return self._trials_where(), self._cursor()

    def _cursor(self) -> int:
        return self._rows("SELECT COALESCE(MAX(finished_seq), 0) FROM trials")[0][0]

    def budget_used(self) -> int:
        """Trials that count towards a budget: all but rejected ones, running included."""
        return self._budget_used()

    def _budget_used(self) -> int:
        return self._rows(f"SELECT {self._count_sql()} - (SELECT COUNT(*) FROM trials "
                          f"WHERE {_IS_REJECTED} AND {_ALSO_IN_STUDY})",
                          self._count_params() + (self.study,))[0][0]

    def _count_sql(self) -> str:
        """This study's number of trials, as an SQL expression (`_count_params`)."""
        if self.study is None:
            # COUNT(*) of a whole table reads no rows; the other studies are few.
            return ("((SELECT COUNT(*) FROM trials) - "
                    "(SELECT COUNT(*) FROM trials WHERE study IS NOT NULL))")
        return "(SELECT COUNT(*) FROM trials WHERE study = ?)"

    def _count_params(self) -> tuple:
        return () if self.study is None else (self.study,)

    def counts(self) -> Dict[str, int]:
        """Trials per status, over every worker."""
        counts = dict.fromkeys(trial_lib.STATUSES, 0)
        counts.update(self._rows(f"SELECT status, COUNT(*) FROM trials WHERE {_IN_STUDY} "
                                 "GROUP BY status", (self.study,)))
        return counts

    def owners(self) -> Dict[int, Tuple[Optional[str], Optional[float]]]:
        """Running trial id -> (worker id, lease expiry as a Unix time)."""
        rows = self._rows(f"SELECT id, owner, lease_until FROM trials WHERE {_IS_RUNNING} "
                          f"AND {_ALSO_IN_STUDY} ORDER BY id", (self.study,))
        for trial_id, owner, lease_until in rows:
            _check_lease_row(self.path, trial_id, owner, lease_until)
        return {trial_id: (owner, lease_until) for trial_id, owner, lease_until in rows}

    def _trials_where(self, where: str = "", params=(), order: str = "id"):
        """This study's trials matching `where`."""
        condition = (f" WHERE {_ALSO_IN_STUDY} AND ({where})" if where
                     else f" WHERE {_IN_STUDY}")
        params = (self.study,) + tuple(params)
        rows = self._rows(
            "SELECT id, dna, status, model, metrics, reward, error, created, started, "
            f"finished, attempts, decisions, parent_id FROM trials{condition} ORDER BY {order}",
            params)
        if not rows:
            return []
        m_rows = self._rows("SELECT trial_id, step, elapsed, metrics FROM measurements "
                            f"WHERE trial_id IN (SELECT id FROM trials{condition}) "
                            "ORDER BY trial_id, step", params)
        measurements = measurements_from_rows(self.path, m_rows)
        trials = []
        for row in rows:
            trial = trial_from_row(self.path, row[:-1], measurements.get(row[0], []))
            trial.parent_id = _parent_id(self.path, row[0], row[-1])
            trials.append(trial)
        return trials

    def studies(self) -> List["Study"]:
        """The other searches recorded in this file (not the main one), in order of creation."""
        return [Study(name, _parent_id(self.path, first, parent), count)
                for name, parent, first, count in self._rows(
                    "SELECT study, MIN(parent_id), MIN(id), COUNT(*) FROM trials "
                    "WHERE study IS NOT NULL GROUP BY study ORDER BY MIN(id)")]

    def _snapshot(self):
        return _Snapshot(self._db, self.path)

    def __len__(self):
        return self._rows(f"SELECT {self._count_sql()}", self._count_params())[0][0]

    def _rows(self, sql: str, params=()) -> List[tuple]:
        return read_rows(self._db, self.path, sql, params)


@dataclasses.dataclass(frozen=True)
class Study:
    """A search recorded beside the main one in a store (see `TrialStore.studies`).

    Attributes:
      name: the study's name (a nested search's inner searches: `trial/<outer id>`).
      parent_id: the trial whose evaluation ran it, if any.
      num_trials: how many trials it recorded.
    """

    name: str
    parent_id: Optional[int]
    num_trials: int


def study_meta_key(study: str, key: str) -> str:
    """Where a study's metadata `key` lives in the `meta` table."""
    return f"study/{study}/{key}"


def _parent_id(path, trial_id, value) -> Optional[int]:
    if value is None or (isinstance(value, int) and value > 0):
        return value
    raise errors.StoreError(f"{path}: trial {trial_id}'s parent_id is {value!r}; expected "
                            "a trial id or null.")


# Reading rows, shared with the read-only `reporting.StoreView`.

def read_rows(db: sqlite3.Connection, path: Optional[str], sql: str, params=()) -> List[tuple]:
    """A read; a missing table or column (a changed schema) is a `StoreError`."""
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.DatabaseError as e:
        raise errors.StoreError(
            f"{path} cannot be read as a symbolic_automl trial store "
            f"(SQLite said: {e}); was it written by another version or program?") from e


def _renew_leases(db: sqlite3.Connection, path: Optional[str], worker: str,
                  lease_seconds: float) -> int:
    return write(db, path, f"UPDATE trials SET lease_until=? WHERE owner=? AND {_IS_RUNNING}",
                 (time.time() + lease_seconds, worker)).rowcount


def write(db: sqlite3.Connection, path: Optional[str], sql: str, params=()) -> sqlite3.Cursor:
    """A write; SQLite's errors (a changed schema, a busy store) become `StoreError`s."""
    try:
        return db.execute(sql, params)
    except sqlite3.DatabaseError as e:
        raise errors.StoreError(
            f"{path} could not be written as a symbolic_automl trial store "
            f"(SQLite said: {e}); was it changed by another version or program?") from e


def load_json(path: Optional[str], text: Any, what: str) -> Any:
    """Plain JSON from the store (`json.loads`, never PyGlove's decoder)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as e:
        raise errors.StoreError(
            f"{path}: {what} is not valid JSON ({e}): {str(text)[:200]!r}") from e


def measurements_from_rows(path: Optional[str], rows) -> Dict[int, List[trial_lib.Measurement]]:
    """`(trial_id, step, elapsed, metrics)` rows as each trial's measurements."""
    out: Dict[int, List[trial_lib.Measurement]] = {}
    for trial_id, step, elapsed, metrics in rows:
        what = f"trial {trial_id}'s measurement at step {step}"
        metrics = load_json(path, metrics, what)
        _check_metrics(metrics, f"{path}: {what}", numbers_only=True)
        out.setdefault(trial_id, []).append(trial_lib.Measurement(step, metrics, elapsed))
    return out


def trial_from_row(path: Optional[str], row, measurements) -> trial_lib.Trial:
    """A `trials` row (id, dna, status, model, metrics, reward, error, created,
    started, finished, attempts, decisions) as a `Trial`.

    Metrics, reward and decisions are plain JSON checked for their shape; the
    model and DNA stay JSON text until `Trial.model` / `Trial.dna` load them
    (refusing pickles and code).
    """
    (trial_id, dna, status, model, metrics, reward, error, created, started,
     finished, attempts, decisions) = row
    where = f"{path}: trial {trial_id}"
    if status not in trial_lib.STATUSES:
        raise errors.StoreError(f"{where} has status {status!r}; expected one of "
                                f"{trial_lib.STATUSES}.")
    for column, value in (("dna", dna), ("model", model), ("error", error),
                          ("decisions", decisions)):
        if not (isinstance(value, str) or (value is None and column != "dna")):
            raise errors.StoreError(f"{where}'s {column} is a {type(value).__name__}, "
                                    "expected JSON text.")
    reward = load_json(path, reward, f"trial {trial_id}'s reward") if reward is not None else None
    if isinstance(reward, list):
        reward = tuple(reward)
    if not (reward is None or _is_number(reward)
            or (isinstance(reward, tuple) and all(_is_number(r) for r in reward))):
        raise errors.StoreError(f"{where}'s reward is {reward!r:.200}; expected a number, "
                                "a list of numbers, or null.")
    metrics = load_json(path, metrics, f"trial {trial_id}'s metrics") if metrics else {}
    _check_metrics(metrics, f"{where}'s metrics", numbers_only=False)
    # Shown to people only (decision name -> value): plain JSON, never decoded further.
    decisions = (load_json(path, decisions, f"trial {trial_id}'s decisions") if decisions
                 else None)
    if not (decisions is None or isinstance(decisions, dict)):
        raise errors.StoreError(f"{where}'s decisions are {decisions!r:.200}; expected a "
                                "JSON object of decision name -> value.")
    return trial_lib.Trial(
        id=trial_id, dna=None, dna_json=dna, status=status, model_json=model,
        metrics=metrics, reward=reward, error=error,
        measurements=measurements, created=created, started=started,
        finished=finished, attempts=attempts, decisions=decisions)


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Brings a store written by an earlier version up to the current columns.

    Columns are only ever added (nullable). Trials recorded before leases have
    no owner: a running one among them is claimable at once (its process ended).
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
    for column, kind in (("decisions", "TEXT"), ("owner", "TEXT"), ("lease_until", "REAL"),
                         ("finished_seq", "INTEGER"), ("study", "TEXT"), ("parent_id", "INTEGER")):
        if column not in columns:
            db.execute(f"ALTER TABLE trials ADD COLUMN {column} {kind}")
    if "finished_seq" not in columns:
        # Trials finished before the sequence existed take the first numbers (in id
        # order), so that a missing number means running.
        db.execute(f"UPDATE trials SET finished_seq=id WHERE status != '{trial_lib.RUNNING}'")
    db.execute("DROP INDEX IF EXISTS trials_running")  # Written by an earlier version 2.
    for statement in _INDEXES.split(";"):
        if statement.strip():
            db.execute(statement)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error; SQLite errors become `StoreError`s.

    IMMEDIATE takes the write lock up front, so the reads inside (the next id,
    the budget, a lease) still hold when the writes commit; another process's
    transaction waits for it (the connection's busy timeout).
    """

    begin = "BEGIN IMMEDIATE"

    def __init__(self, db: sqlite3.Connection, path: Optional[str]):
        self._db = db
        self._path = path

    def __enter__(self):
        self._run(self.begin)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._run("COMMIT")
        elif self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _run(self, sql: str):
        try:
            self._db.execute(sql)
        except sqlite3.DatabaseError as e:
            if self._db.in_transaction and sql == "COMMIT":
                self._db.execute("ROLLBACK")
            busy = _is_busy(e)
            raise errors.StoreError(
                f"{self._path}: {sql} failed (SQLite said: {e}); " +
                ("another process held the store for longer than the busy timeout."
                 if busy else "the file is damaged or not a trial store.")) from e


class _Snapshot(_Transaction):
    """A read transaction: several reads see one moment of the store."""

    begin = "BEGIN"


def _is_busy(e: sqlite3.DatabaseError) -> bool:
    """Whether SQLite gave up waiting for another connection's lock."""
    return isinstance(e, sqlite3.OperationalError) and ("locked" in str(e) or "busy" in str(e))


def _check_lease_row(path, trial_id, owner, lease_until) -> None:
    if not (owner is None or isinstance(owner, str)) or not (
            lease_until is None or _is_number(lease_until)):
        raise errors.StoreError(
            f"{path}: trial {trial_id}'s lease is owner={owner!r:.100}, "
            f"lease_until={lease_until!r:.100}; expected a worker id and a Unix time.")


def _check_one_row(path, cursor: sqlite3.Cursor, what: str) -> None:
    if cursor.rowcount != 1:
        raise errors.StoreError(f"{path}: {what} changed {cursor.rowcount} rows, expected 1; "
                                "the store was changed underneath this transaction.")


def _jsonable_metrics(metrics: Dict[str, Any]) -> Dict[str, Any]:
    clean = {}
    for key, value in metrics.items():
        try:
            value = float(value) if not isinstance(value, (str, bool, int)) else value
            json.dumps(value)
        except (TypeError, ValueError):
            value = repr(value)
        clean[key] = value
    return clean



def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_metrics(metrics: Any, what: str, numbers_only: bool) -> None:
    """Stored metrics are a flat object of numbers (and, for final metrics, strings)."""
    allowed = (int, float) if numbers_only else (int, float, str, bool, type(None))
    if not isinstance(metrics, dict) or not all(
            isinstance(v, allowed) for v in metrics.values()):
        raise errors.StoreError(
            f"{what} is {metrics!r:.200}; expected a JSON object of metric name -> "
            f"{'number' if numbers_only else 'number or string'}.")
