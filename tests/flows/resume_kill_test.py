"""A nested search SIGKILLed at random points of both levels resumes without repeating work.

The fast, in-process version (an interruption inside an inner trial) is in
`nested_test.py`; this one kills real processes.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from symbolic_automl import storage

SCRIPT = textwrap.dedent("""
    import os, sys, time
    import pyglove as pg
    from symbolic_automl import flows
    from symbolic_automl import algorithms as sa

    LOG = sys.argv[2]

    def inner_space(outer):
        return pg.Dict(x=pg.oneof(list(range(outer.budget))), y=pg.oneof([0, 1, 2]))

    def evaluate(model, context):
        with open(LOG, "a") as f:
            f.write(f"start {context.trial_id}\\n")
        time.sleep(0.05)
        return {"score": model.x + 0.25 * model.y}

    def slow_best(inner, outer):  # Widens the outer level's window for kills.
        time.sleep(0.1)
        return flows.best_reward(inner, outer)

    inner = flows.InnerSearch(inner_space, sa.regularized_evolution(
        population_size=2, tournament_size=2, seed=1), evaluate, max_trials=5,
        reward=slow_best, objective="score")
    flows.nested(pg.Dict(budget=pg.oneof([2, 3, 4])), sa.grid(), inner, max_trials=3,
                 root_dir=sys.argv[1], progress=False)
""")


def _snapshot(path):
    """(finished trial ids, outer ids completed, studies with all 5 inner trials finished)."""
    if not os.path.exists(path):
        return set(), set(), set()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id, study, parent_id, status FROM trials").fetchall()
    finished = {r[0] for r in rows if r[3] != "running"}
    outer_done = {r[0] for r in rows if r[1] is None and r[3] != "running"}
    per_study = {}
    for trial_id, study, _, status in rows:
        if study is not None and status != "running":
            per_study[study] = per_study.get(study, 0) + 1
    return finished, outer_done, {s for s, n in per_study.items() if n == 5}


def _outer_is_between(path):
    """Whether an outer trial is running while its inner search has all 5 trials finished."""
    if not os.path.exists(path):
        return False
    try:
        with sqlite3.connect(path) as db:
            return bool(db.execute(
                "SELECT COUNT(*) FROM trials o WHERE o.study IS NULL AND o.status='running' "
                "AND (SELECT COUNT(*) FROM trials i WHERE i.parent_id=o.id "
                "AND i.status!='running') = 5").fetchone()[0])
    except sqlite3.OperationalError:  # The file is being created.
        return False


def _starts(log, offset):
    with open(log) as f:
        lines = f.read().splitlines()
    return [int(line.split()[1]) for line in lines[offset:]], len(lines)


@pytest.mark.slow
def test_sigkill_at_random_points_of_both_levels(tmp_path):
    root, log = str(tmp_path / "run"), str(tmp_path / "log")
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    open(log, "w").close()
    path = os.path.join(root, storage.FILENAME)
    rng = random.Random(0)
    snapshots, offsets, kills, between = [], [], 0, 0
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    for attempt in range(30):
        _, offset = _starts(log, 0)
        offsets.append(offset)
        process = subprocess.Popen([sys.executable, str(script), root, log], env=env)
        # Kill once the log grew by a random number of evaluations (the inner level),
        # or on every other attempt once an inner search has finished while its
        # outer trial is still running (the outer level); or let it finish.
        target = offset + rng.randint(1, 6)
        outer_level = attempt % 2 == 1
        deadline = time.time() + 120
        while process.poll() is None and time.time() < deadline:
            grown = _starts(log, 0)[1] >= target + (6 if outer_level else 0)
            if grown or (outer_level and _outer_is_between(path)):
                if not outer_level:
                    time.sleep(rng.uniform(0.0, 0.06))  # Inside an evaluation, or between.
                process.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.002)
        process.wait(timeout=120)
        snapshots.append(_snapshot(path))
        between += _outer_is_between(path)
        if process.returncode == 0:
            break
    assert process.returncode == 0, "the search never finished"
    assert kills >= 3
    assert between >= 1  # At least one kill hit an outer trial whose inner search was done.
    # Work recorded as finished before a kill never ran again afterwards.
    for i, (finished, outer_done, full_studies) in enumerate(snapshots[:-1]):
        with sqlite3.connect(path) as db:
            study_of = dict(db.execute("SELECT id, study FROM trials").fetchall())
        later, _ = _starts(log, offsets[i + 1])
        assert not set(later) & finished, (i, set(later) & finished)
        done_studies = {f"trial/{o}" for o in outer_done} | full_studies
        assert not {study_of[t] for t in later} & done_studies
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id, study, parent_id, status FROM trials ORDER BY id").fetchall()
    outer = [r for r in rows if r[1] is None]
    inner = [r for r in rows if r[1] is not None]
    assert len(outer) == 3 and len(inner) == 15
    assert all(r[3] == "completed" for r in rows)
    for outer_id, *_ in outer:
        assert sum(r[2] == outer_id and r[1] == f"trial/{outer_id}" for r in inner) == 5
