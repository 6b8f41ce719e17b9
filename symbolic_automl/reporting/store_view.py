"""`StoreView`: a read-only view of a trial store, safe beside a running search.

It opens the SQLite file with a read-only URI (`file:...?mode=ro`): it can
never write, and in the store's WAL journal mode readers and the writer do not
block each other, so a viewer (dashboard, report, TensorBoard export) never
slows or locks the search that writes the store.

Example::

    view = StoreView.in_dir("runs/exp")
    rows = view.rows(since=0.0)            # light rows for tables, incremental
    trials = view.trials()                 # full `Trial`s (plots, reports)
"""

import os
import sqlite3
import threading
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from symbolic_automl import errors
from symbolic_automl import storage
from symbolic_automl import trial as trial_lib

_ROW_COLUMNS = ("id", "status", "reward", "metrics", "error", "created", "started",
                "finished", "attempts", "decisions")


class StoreView:
    """Read-only access to one experiment's `trials.sqlite`."""

    def __init__(self, path: str):
        if not os.path.exists(path):
            raise errors.StoreError(f"No trial store at {path}: the file does not exist.")
        self.path = os.path.abspath(path)
        uri = "file:" + urllib.parse.quote(self.path) + "?mode=ro"
        try:
            # One connection shared by a server's threads, behind a lock.
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False,
                                       isolation_level=None)
            app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(trials)")}
        except sqlite3.DatabaseError as e:
            raise errors.StoreError(f"{path} is not a readable symbolic_automl trial store "
                                    f"(SQLite said: {e}).") from e
        if app_id != storage.APPLICATION_ID or not columns:
            raise errors.StoreError(f"{path} is not a symbolic_automl trial store "
                                    f"(application_id {app_id:#x}).")
        # Stores written before decisions were recorded lack the column.
        self._has_decisions = "decisions" in columns
        # Views show the main search; a nested search's inner ones are other studies.
        self._main_only = "study IS NULL" if "study" in columns else "1"
        self._lock = threading.Lock()

    @classmethod
    def in_dir(cls, root_dir: str) -> "StoreView":
        return cls(os.path.join(root_dir, storage.FILENAME))

    @property
    def connection(self) -> sqlite3.Connection:
        """The read-only connection (writes through it raise `sqlite3.OperationalError`)."""
        return self._db

    def close(self) -> None:
        self._db.close()

    def version(self) -> Tuple[int, ...]:
        """Changes whenever the store may have changed (file and WAL mtimes and sizes)."""
        out = []
        for suffix in ("", "-wal"):
            try:
                stat = os.stat(self.path + suffix)
                out += [stat.st_mtime_ns, stat.st_size]
            except FileNotFoundError:
                out += [0, 0]
        return tuple(out)

    def _query(self, sql: str, args=()) -> List[tuple]:
        with self._lock:
            return storage.read_rows(self._db, self.path, sql, args)

    def meta(self, key: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM meta WHERE key=?", (key,))
        return default if not rows else storage.load_json(self.path, rows[0][0], f"meta {key!r}")

    def space(self):
        """The searched `Space`, rebuilt from the store when it recorded one, else None.

        Define-by-run spaces are not recorded (they are code); nor is a space whose
        classes cannot be loaded without running code.
        """
        text = self.meta("space")
        if not text:
            return None
        from symbolic_automl import export  # pylint: disable=g-import-not-at-top
        from symbolic_automl import space as space_lib  # pylint: disable=g-import-not-at-top

        try:
            return space_lib.Space(export.loads(text))
        except (ValueError, TypeError, KeyError, errors.SymbolicAutoMLError):
            return None

    def count(self) -> int:
        return self._query(f"SELECT COUNT(*) FROM trials WHERE {self._main_only}")[0][0]

    def rows(self, since: float = 0.0, trial_id: Optional[int] = None) -> List[Dict[str, Any]]:
        """Light per-trial dicts (no model, no measurements), changed after time `since`.

        A trial changes when it is created, (re)started and finished; `changed` in
        each row is the latest of those, to pass as the next `since`.
        """
        columns = ", ".join(c if c != "decisions" or self._has_decisions else "NULL"
                            for c in _ROW_COLUMNS)
        sql = (f"SELECT {columns}, MAX(created, started, COALESCE(finished, 0)) AS changed "
               f"FROM trials WHERE {self._main_only}")
        args = ()
        if trial_id is not None:
            sql += " AND id=?"
            args = (trial_id,)
        elif since:
            sql += " AND MAX(created, started, COALESCE(finished, 0)) > ?"
            args = (since,)
        out = []
        for row in self._query(sql + " ORDER BY id", args):
            record = dict(zip(_ROW_COLUMNS + ("changed",), row))
            for column, empty in (("reward", None), ("metrics", {}), ("decisions", None)):
                record[column] = (storage.load_json(self.path, record[column],
                                                    f"trial {record['id']}'s {column}")
                                  if record[column] else empty)
            out.append(record)
        return out

    def measurements(self, trial_id: Optional[int] = None) -> Dict[int, List[trial_lib.Measurement]]:
        sql = "SELECT trial_id, step, elapsed, metrics FROM measurements"
        args = ()
        if trial_id is not None:
            sql += " WHERE trial_id=?"
            args = (trial_id,)
        return storage.measurements_from_rows(
            self.path, self._query(sql + " ORDER BY trial_id, step", args))

    def model_json(self, trial_id: int) -> Optional[str]:
        rows = self._query("SELECT model FROM trials WHERE id=?", (trial_id,))
        return rows[0][0] if rows else None

    def dna_json(self, trial_id: int) -> Optional[str]:
        rows = self._query("SELECT dna FROM trials WHERE id=?", (trial_id,))
        return rows[0][0] if rows else None

    def trials(self) -> List[trial_lib.Trial]:
        """Every trial as a `Trial` (DNA and model parsed lazily), with measurements."""
        measurements = self.measurements()
        decisions = "decisions" if self._has_decisions else "NULL"
        return [storage.trial_from_row(self.path, row, measurements.get(row[0], []))
                for row in self._query(
                    "SELECT id, dna, status, model, metrics, reward, error, created, started, "
                    f"finished, attempts, {decisions} FROM trials WHERE {self._main_only} "
                    "ORDER BY id")]

    def result(self) -> trial_lib.Result:
        """The stored search as a `Result` (without its space)."""
        return trial_lib.Result(self.trials(), self.meta("objectives") or ["reward"],
                                os.path.dirname(self.path),
                                history=self.meta("architecture_history"))
