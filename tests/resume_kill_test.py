"""SIGKILL at random moments loses no finished trial; resuming completes the budget."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import symbolic_automl as sa

SCRIPT = textwrap.dedent("""
    import sys, time
    import pyglove as pg
    import symbolic_automl as sa

    def evaluate(model, context):
        time.sleep(0.02)
        return {"reward": model.a * 10 + model.b}

    space = pg.Dict(a=pg.oneof(list(range(8))), b=pg.floatv(0.0, 1.0))
    sa.search(space, algorithm=pg.evolution.regularized_evolution(
                  population_size=5, tournament_size=2, seed=7),
              evaluator=evaluate, max_trials=int(sys.argv[2]), root_dir=sys.argv[1],
              progress=False)
""")

BUDGET = 60


def _start(script, root_dir):
    return subprocess.Popen([sys.executable, script, root_dir, str(BUDGET)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_completed(store_path, target, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(store_path):
            try:
                db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
                done = db.execute(
                    "SELECT COUNT(*) FROM trials WHERE status='completed'").fetchone()[0]
                db.close()
                if done >= target:
                    return done
            except sqlite3.OperationalError:
                pass  # Tables not created yet.
        time.sleep(0.01)
    raise AssertionError(f"the search did not reach {target} trials in {timeout} s")


def test_sigkill_at_random_points_then_resume(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    root_dir = str(tmp_path / "run")
    store_path = os.path.join(root_dir, "trials.sqlite")
    rng = random.Random(0)
    snapshots = []
    done = 0
    for _ in range(4):
        process = _start(str(script), root_dir)
        # Kill once a few more trials have finished, plus a random fraction of
        # a trial: sometimes mid-evaluation, sometimes mid-commit.
        target = done + rng.randint(1, 8)
        done = _wait_for_completed(store_path, target, process)
        time.sleep(rng.uniform(0.0, 0.03))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if os.path.exists(store_path):
            store = sa.TrialStore(store_path)
            snapshots.append({t.id: (t.dna, t.reward) for t in store.trials()
                              if t.status == "completed"})
            store.close()
    process = _start(str(script), root_dir)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode()[-2000:]

    trials = sa.TrialStore(store_path).trials()
    assert [t.id for t in trials] == list(range(1, BUDGET + 1))
    assert all(t.status == "completed" for t in trials)
    final = {t.id: (t.dna, t.reward) for t in trials}
    assert any(snapshots), "no kill landed after the first trials were recorded"
    for snapshot in snapshots:  # Nothing recorded as finished was lost or changed.
        for trial_id, record in snapshot.items():
            assert final[trial_id] == record
