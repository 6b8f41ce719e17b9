"""`TrialStore`: every trial of one experiment in one SQLite file.

Each change is committed before the search moves on, so killing the process at
any moment loses no finished trial. The file carries an application id, so a
foreign or corrupt file is refused with a clear error instead of being written.

Example::

    store = TrialStore("runs/exp1/trials.sqlite")
    for trial in store.trials():
        print(trial.id, trial.status, trial.reward)
"""

import json
import os
import sqlite3
from typing import Any, Dict, List, Optional

from symbolic_automl import errors
from symbolic_automl import trial as trial_lib

# 'SAML' in ASCII: marks files written by this library.
APPLICATION_ID = 0x53414D4C
SCHEMA_VERSION = 1
FILENAME = "trials.sqlite"

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
    decisions TEXT
);
CREATE TABLE IF NOT EXISTS measurements (
    trial_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    elapsed REAL NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (trial_id, step)
);
"""


class TrialStore:
    """SQLite trial store; `path=None` keeps the trials in memory."""

    def __init__(self, path: Optional[str] = None):
        self.path = path
        if path is not None:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
        try:
            self._db = sqlite3.connect(path or ":memory:", isolation_level=None)
            self._check_and_init()
        except sqlite3.DatabaseError as e:
            raise errors.StoreError(
                f"{path} is not a readable symbolic_automl trial store "
                f"(SQLite said: {e}). Move it away or pick another root_dir.") from e

    @classmethod
    def in_dir(cls, root_dir: Optional[str]) -> "TrialStore":
        return cls(None if root_dir is None else os.path.join(root_dir, FILENAME))

    def _check_and_init(self):
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
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
        if self.path is not None:
            # WAL + NORMAL: a commit survives the process being killed (not a power
            # cut), at a fraction of the cost of a full sync per trial.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        if not tables:
            with self._transaction():
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                # Not executescript: it would commit halfway through.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        else:
            add_missing_columns(db)

    def _transaction(self):
        return _Transaction(self._db)

    def close(self):
        self._db.close()

    # Experiment-level metadata.

    def get_meta(self, key: str, default: Any = None) -> Any:
        """A metadata value: plain JSON, read with `json.loads` (never PyGlove's decoder)."""
        rows = self._rows("SELECT value FROM meta WHERE key=?", (key,))
        return default if not rows else load_json(self.path, rows[0][0], f"meta {key!r}")

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             (key, json.dumps(value)))

    # Trials.

    def add(self, trial: trial_lib.Trial) -> None:
        """Records a new (running) trial."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO trials (id, dna, status, model, created, started, attempts, "
                "decisions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (trial.id, trial_lib.trial_dna_json(trial), trial.status, trial.model_json,
                 trial.created, trial.started, trial.attempts,
                 None if trial.decisions is None else json.dumps(trial.decisions)))

    def restart(self, trial: trial_lib.Trial) -> None:
        """Marks an interrupted trial as running again, dropping partial reports."""
        with self._transaction():
            self._db.execute("DELETE FROM measurements WHERE trial_id=?", (trial.id,))
            self._db.execute(
                "UPDATE trials SET status=?, started=?, attempts=? WHERE id=?",
                (trial_lib.RUNNING, trial.started, trial.attempts, trial.id))

    def add_measurement(self, trial_id: int, m: trial_lib.Measurement) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO measurements VALUES (?, ?, ?, ?)",
                             (trial_id, m.step, m.elapsed, json.dumps(m.metrics)))

    def finish(self, trial: trial_lib.Trial) -> None:
        """Records a trial's outcome (status, metrics, reward, error, model)."""
        with self._transaction():
            self._db.execute(
                "UPDATE trials SET status=?, model=?, metrics=?, reward=?, error=?, "
                "finished=? WHERE id=?",
                (trial.status, trial.model_json, json.dumps(_jsonable_metrics(trial.metrics)),
                 json.dumps(trial.reward), trial.error, trial.finished, trial.id))

    def trials(self) -> List[trial_lib.Trial]:
        """Every recorded trial, in id order (see `trial_from_row`).

        Raises:
          StoreError: a row or the schema is not what this library writes.
        """
        measurements = measurements_from_rows(self.path, self._rows(
            "SELECT trial_id, step, elapsed, metrics FROM measurements ORDER BY trial_id, step"))
        return [trial_from_row(self.path, row, measurements.get(row[0], []))
                for row in self._rows(
                    "SELECT id, dna, status, model, metrics, reward, error, created, "
                    "started, finished, attempts, decisions FROM trials ORDER BY id")]

    def __len__(self):
        return self._rows("SELECT COUNT(*) FROM trials")[0][0]

    def _rows(self, sql: str, params=()) -> List[tuple]:
        return read_rows(self._db, self.path, sql, params)


# Reading rows, shared with the read-only `reporting.StoreView`.

def read_rows(db: sqlite3.Connection, path: Optional[str], sql: str, params=()) -> List[tuple]:
    """A read; a missing table or column (a changed schema) is a `StoreError`."""
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.DatabaseError as e:
        raise errors.StoreError(
            f"{path} cannot be read as a symbolic_automl trial store "
            f"(SQLite said: {e}); was it written by another version or program?") from e


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

    Columns are only ever added (nullable), so older versions still read the file.
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
    if "decisions" not in columns:
        db.execute("ALTER TABLE trials ADD COLUMN decisions TEXT")


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error."""

    def __init__(self, db):
        self._db = db

    def __enter__(self):
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


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
