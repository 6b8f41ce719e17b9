"""Decisions shown as name=value everywhere: recorded in the store, summary, CLI show, progress."""

import json
import random
import sqlite3

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import cli
from symbolic_automl import space as space_lib
from symbolic_automl import storage
from symbolic_automl import trial as trial_lib
from symbolic_automl.reporting import Progress, decisions_of_assignment, format_decisions


class Block(pg.Object):
    units: int = 1


# Numbers, named strings, a manyof, a conditional object choice, a log float, bools.
MIXED = pg.Dict(a=pg.oneof([1, 2.5, 3]), s=pg.oneof(["relu", "tanh"], name="act"),
                m=pg.manyof(2, ["x", "y", "z"]), c=pg.oneof([Block(units=pg.oneof([4, 5])), 7]),
                f=pg.floatv(1e-4, 1e-1, scale="log", name="lr"), b=pg.oneof([True, False]))


def test_fast_decisions_equal_space_decisions():
    space = space_lib.Space(MIXED)
    for seed in range(20):
        assignment = space.genome.sample(random.Random(seed))
        dna = space.genome.to_dna(assignment)
        assert decisions_of_assignment(space.genome, assignment) == space.decisions(dna)
    seen = decisions_of_assignment(space.genome, space.genome.sample(random.Random(0)))
    assert seen["act"] in ("relu", "tanh") and seen["a"] in (1, 2.5, 3)


def test_format_decisions():
    text = format_decisions({"filters": 32, "activation": "swish", "learning_rate": 0.0072134})
    assert text == "filters=32, activation=swish, learning_rate=0.007213"
    assert format_decisions({"m": ["x", "y"], "b": True}) == "m=[x, y], b=True"
    assert format_decisions({"x": "a" * 50}, max_chars=20) == "x=" + "a" * 15 + "..."


SPACE = pg.Dict(filters=pg.oneof([16, 32, 64]), activation=pg.oneof(["relu", "swish"]),
                lr=pg.floatv(1e-4, 1e-1))


def _score(model, context):
    del context
    return {"reward": model.filters / 64 + model.lr}


@pytest.mark.parametrize("algorithm", ["pyglove", "ours"])
def test_search_records_decisions_and_views_show_them(tmp_path, algorithm):
    from symbolic_automl import algorithms  # pylint: disable=g-import-not-at-top

    algo = (pg.geno.Random(seed=1) if algorithm == "pyglove"
            else algorithms.regularized_evolution(population_size=4, tournament_size=2, seed=1))
    result = sa.search(SPACE, algorithm=algo, evaluator=_score, max_trials=6,
                       root_dir=str(tmp_path), progress=False)
    for trial in result.trials:
        model = trial.model
        assert trial.decisions == {"filters": model.filters, "activation": model.activation,
                                   "lr": model.lr}
    stored = sa.TrialStore(str(tmp_path / "trials.sqlite"))
    assert [t.decisions for t in stored.trials()] == [t.decisions for t in result.trials]
    best = result.best
    summary = result.summary(3)
    assert f"filters={best.model.filters}, activation={best.model.activation}" in summary
    assert "DNA(" not in summary and "dna=" not in summary
    shown = cli.show(stored, 3)
    assert f"#{best.id}" in shown and f"lr={best.model.lr:.4g}" in shown and "DNA(" not in shown
    assert "decisions=(filters=" in repr(best)


def test_store_without_decisions_column_is_migrated_and_still_read(tmp_path):
    path = str(tmp_path / "trials.sqlite")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA application_id={storage.APPLICATION_ID}")
    db.execute("PRAGMA user_version=1")
    # The trials table as version 1 of the store wrote it, before `decisions`.
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY, dna TEXT NOT NULL, status TEXT "
               "NOT NULL, model TEXT, metrics TEXT, reward TEXT, error TEXT, created REAL NOT "
               "NULL, started REAL NOT NULL, finished REAL, attempts INTEGER NOT NULL DEFAULT 1)")
    db.execute("CREATE TABLE measurements (trial_id INTEGER NOT NULL, step INTEGER NOT NULL, "
               "elapsed REAL NOT NULL, metrics TEXT NOT NULL, PRIMARY KEY (trial_id, step))")
    db.execute("INSERT INTO trials VALUES (1, ?, 'completed', NULL, ?, '0.5', NULL, 1, 1, 2, 1)",
               (pg.to_json_str(pg.DNA([1, 0, 0.05])), json.dumps({"reward": 0.5})))
    db.commit()
    db.close()
    store = sa.TrialStore(path)
    [old] = store.trials()
    assert old.decisions is None and old.reward == 0.5
    assert "dna=DNA([1, 0, 0.05])" in trial_lib.Result([old], ["reward"]).summary()
    # Resuming the old store records decisions for new trials.
    store.close()
    result = sa.search(SPACE, algorithm=pg.geno.Random(seed=2), evaluator=_score, max_trials=2,
                       root_dir=str(tmp_path), progress=False)
    assert result.trials[0].decisions is None
    assert result.trials[1].decisions["filters"] in (16, 32, 64)


def test_progress_counts_failed_and_rejected():
    progress = Progress(total=5, initial=0, enabled=True, counts={"failed": 1})

    def trial(i, status, reward=None):
        return trial_lib.Trial(id=i, dna=pg.DNA(0), status=status, reward=reward,
                               decisions={"x": i})

    progress.update(trial(2, "completed", 1.5), best=trial(2, "completed", 1.5))
    progress.update(trial(3, "rejected"), best=None)
    progress.update(trial(4, "failed"), best=None)
    progress.update(trial(5, "rejected"), best=None)
    assert progress.postfix() == {"failed": 2, "rejected": 2}
    assert progress._bar.n == 2  # Rejected trials do not count towards max_trials.
    progress.update(trial(6, "completed", 2.0), best=trial(6, "completed", 2.0))
    assert progress.postfix() == {"best": "2", "best_trial": 6, "failed": 2, "rejected": 2}
    progress.close()
