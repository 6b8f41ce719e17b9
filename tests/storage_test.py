"""`TrialStore`: durable records; foreign and corrupt files are refused untouched."""

import sqlite3

import pyglove as pg
import pytest

import symbolic_automl as sa
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
