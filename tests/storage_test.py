"""`TrialStore`: durable records; foreign and corrupt files are refused untouched;
ids, guarded updates, the budget, old and broken stores (leases: shared_store_test)."""

import sqlite3
import threading

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import storage
from symbolic_automl import trial as trial_lib


def _trial(trial_id, dna):
    return sa.Trial(id=trial_id, dna=pg.DNA(dna), status=trial_lib.RUNNING,
                    created=1.0, started=1.0)


def test_round_trip_of_a_trial_with_measurements(tmp_path):
    path = str(tmp_path / "trials.sqlite")
    store = sa.TrialStore(path)
    trial = _trial(1, [0, 0.5, (1, [2])])
    store.add(trial)
    store.add_measurement(1, sa.Measurement(1, {"val_accuracy": 0.5}, 0.1))
    trial.status, trial.metrics, trial.reward, trial.finished = "completed", {"a": 1.0}, 0.7, 2.0
    store.finish(trial)
    store.close()
    (loaded,) = sa.TrialStore(path).trials()
    assert loaded.dna == trial.dna and loaded.reward == 0.7 and loaded.status == "completed"
    assert loaded.measurements[0].metrics == {"val_accuracy": 0.5}
    assert loaded.duration == 1.0


def test_foreign_sqlite_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "trials.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (id INTEGER)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(sa.StoreError, match="another program"):
        sa.TrialStore(str(path))
    assert path.read_bytes() == before


def test_corrupt_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "trials.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(sa.StoreError, match="not a readable symbolic_automl trial store"):
        sa.TrialStore(str(path))
    assert path.read_bytes() == b"this is not a database" * 100


def _finish(store, trial, status="completed", reward=1.0):
    trial.status, trial.reward, trial.finished = status, reward, 2.0
    store.finish(trial)


def test_ids_are_max_plus_one_allocated_by_the_store(tmp_path):
    store = sa.TrialStore(str(tmp_path / "trials.sqlite"))
    first, second = _trial(7, [0]), _trial(7, [1])  # The ids they come with are ignored.
    assert store.add(first) == 1 and first.id == 1
    assert store.add(second) == 2 and second.id == 2
    db = sqlite3.connect(str(tmp_path / "trials.sqlite"))
    db.execute("DELETE FROM trials WHERE id=1")  # A gap: len + 1 would reuse id 2.
    db.commit()
    db.close()
    assert store.add(_trial(1, [0])) == 3
    assert [t.id for t in store.trials()] == [2, 3]


def test_budget_counts_running_and_finished_but_not_rejected(tmp_path):
    store = sa.TrialStore(str(tmp_path / "trials.sqlite"))
    a, b = _trial(0, [0]), _trial(0, [1])
    assert store.add(a, budget=2) == 1 and store.add(b, budget=2) == 2
    assert store.add(_trial(0, [2]), budget=2) is None and len(store) == 2
    _finish(store, b, status="rejected", reward=None)
    assert store.budget_used() == 1
    assert store.add(_trial(0, [2]), budget=2) == 3
    assert store.counts()["running"] == 2 and store.counts()["rejected"] == 1


def test_a_trial_is_finished_once_and_reports_only_while_running(tmp_path):
    store = sa.TrialStore(str(tmp_path / "trials.sqlite"))
    trial = _trial(0, [0])
    store.add(trial)
    _finish(store, trial, reward=0.9)
    with pytest.raises(sa.StoreError, match="trial 1: it is already 'completed'; refusing"):
        _finish(store, trial, status="failed", reward=None)
    with pytest.raises(sa.StoreError, match="already 'completed'"):
        store.add_measurement(1, sa.Measurement(1, {"loss": 1.0}, 0.1))
    with pytest.raises(sa.StoreError, match="no such trial"):
        store.add_measurement(5, sa.Measurement(1, {"loss": 1.0}, 0.1))
    with pytest.raises(sa.StoreError, match="is 'completed', not running"):
        store.restart(trial)
    with pytest.raises(ValueError, match="final status, got 'running'"):
        store.finish(_trial(1, [0]))
    (stored,) = store.trials()
    assert stored.status == "completed" and stored.reward == 0.9 and not stored.measurements


def _write_version_1_store(path, running_trial=True):
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id={storage.APPLICATION_ID}")
    db.execute("PRAGMA user_version=1")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY, dna TEXT NOT NULL, status TEXT "
               "NOT NULL, model TEXT, metrics TEXT, reward TEXT, error TEXT, created REAL NOT "
               "NULL, started REAL NOT NULL, finished REAL, attempts INTEGER NOT NULL DEFAULT 1,"
               " decisions TEXT)")
    db.execute("CREATE TABLE measurements (trial_id INTEGER NOT NULL, step INTEGER NOT NULL, "
               "elapsed REAL NOT NULL, metrics TEXT NOT NULL, PRIMARY KEY (trial_id, step))")
    dna = pg.to_json_str(pg.DNA(0))
    db.execute("INSERT INTO trials VALUES (1, ?, 'completed', NULL, '{}', '0.5', NULL, 1, 1, "
               "2, 1, NULL)", (dna,))
    if running_trial:
        db.execute("INSERT INTO trials VALUES (2, ?, 'running', NULL, NULL, NULL, NULL, 1, 1, "
                   "NULL, 1, NULL)", (dna,))
        db.execute("INSERT INTO measurements VALUES (2, 1, 0.1, '{\"loss\": 2.0}')")
    db.commit()
    db.close()


def test_version_1_store_gains_lease_columns_and_its_running_trial_is_claimable(tmp_path):
    path = str(tmp_path / "trials.sqlite")
    _write_version_1_store(path)
    store = sa.TrialStore(path)
    (claimed,) = store.claim_expired()  # No owner: its process ended with the old version.
    assert claimed.id == 2 and claimed.attempts == 2 and claimed.measurements == []
    _finish(store, claimed, reward=0.25)
    assert store.add(_trial(0, [1])) == 3
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == storage.SCHEMA_VERSION
    db.close()
    assert [(t.id, t.status, t.reward) for t in sa.TrialStore(path).trials()] == [
        (1, "completed", 0.5), (2, "completed", 0.25), (3, "running", None)]


@pytest.mark.parametrize("change", [
    "ALTER TABLE trials DROP COLUMN metrics",
    "ALTER TABLE trials RENAME TO old_trials",
    "DROP TABLE measurements",
])
def test_a_changed_schema_is_a_store_error_on_every_path(tmp_path, change):
    path = str(tmp_path / "trials.sqlite")
    store = sa.TrialStore(path)
    running, done = _trial(0, [0]), _trial(0, [1])
    store.add(running)
    store.add(done)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(change)
    db.close()
    calls = {
        "open": lambda: sa.TrialStore(path),
        "trials": store.trials,
        "add": lambda: store.add(_trial(0, [2]), budget=10),
        "finish": lambda: _finish(store, done),
        "add_measurement": lambda: store.add_measurement(1, sa.Measurement(1, {"a": 1.0}, 0.1)),
        "claim_expired": store.claim_expired,
        "finished_since": lambda: store.finished_since(0),
        "renew_leases": store.renew_leases,
        "counts": store.counts,
    }
    raised = {}
    for name, call in calls.items():
        try:
            call()
        except sa.StoreError:
            raised[name] = True
        except sqlite3.Error as e:  # What this test exists to catch.
            pytest.fail(f"{name} raised a raw {type(e).__name__}: {e}")
        else:
            raised[name] = False
    # Each change breaks these paths; none may answer as if nothing happened.
    broken = {"ALTER TABLE trials DROP COLUMN metrics": ["trials", "finish"],
              "ALTER TABLE trials RENAME TO old_trials": list(calls),
              "DROP TABLE measurements": ["trials", "add_measurement"]}[change]
    assert [name for name in broken if not raised[name]] == []


def test_garbage_in_a_lease_or_row_is_a_store_error(tmp_path):
    path = str(tmp_path / "trials.sqlite")
    store = sa.TrialStore(path)
    store.add(_trial(0, [0]))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE trials SET lease_until='soon', owner=NULL")
    with pytest.raises(sa.StoreError, match="trial 1's lease is owner=None, lease_until='soon'"):
        sa.TrialStore(path).claim_expired()
    db.execute("UPDATE trials SET lease_until=0, metrics='{not json', status='completed', "
               "finished_seq=1")
    db.close()
    with pytest.raises(sa.StoreError, match="trial 1's metrics is not valid JSON"):
        store.trials()
    with pytest.raises(sa.StoreError, match="trial 1's metrics is not valid JSON"):
        sa.TrialStore(path).finished_since(0)  # Another worker reads what this one finished.


def test_a_writer_waits_for_another_process_instead_of_failing(tmp_path):
    path = str(tmp_path / "trials.sqlite")
    store = sa.TrialStore(path, busy_seconds=5.0)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # Another process mid-write.
    releaser = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    releaser.start()
    assert store.add(_trial(0, [0])) == 1  # Waited ~0.3 s for the lock.
    releaser.join()
    impatient = sa.TrialStore(path, busy_seconds=0.05)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sa.StoreError, match="held the store for longer than the busy timeout"):
        impatient.add(_trial(0, [1]))
    with pytest.raises(sa.StoreError, match="held the store for longer than the busy timeout"):
        sa.TrialStore(path, busy_seconds=0.05)  # Opening waits, and says why it gave up.
    holder.execute("ROLLBACK")
    assert [t.id for t in impatient.trials()] == [1]


def test_lengths_and_budgets_count_only_the_stores_own_study(tmp_path):
    path = str(tmp_path / "trials.sqlite")
    main, inner = sa.TrialStore(path), sa.TrialStore(path, study="trial/1", parent_id=1)
    assert main.add(_trial(0, [0])) == 1
    inner_trials = [_trial(0, [i]) for i in range(3)]
    assert [inner.add(t) for t in inner_trials] == [2, 3, 4]  # Ids unique across the file.
    _finish(inner, inner_trials[0], status="rejected", reward=None)
    assert (len(main), main.budget_used(), len(inner), inner.budget_used()) == (1, 1, 3, 2)
    assert main.add(_trial(0, [1]), budget=2) == 5 and main.add(_trial(0, [2]), budget=2) is None
    assert inner.add(_trial(0, [3]), budget=3) == 6 and inner.add(_trial(0, [4]), budget=3) is None


def test_opening_an_up_to_date_store_writes_nothing(tmp_path):
    path = tmp_path / "trials.sqlite"
    store = sa.TrialStore(str(path))
    store.add(_trial(0, [0]))
    store.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    sa.TrialStore(str(path)).close()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
