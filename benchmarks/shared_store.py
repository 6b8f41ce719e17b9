"""What joining costs per trial: the store calls of a worker that shares its store.

Rows, each `--trials` trials on one durable SQLite store, side by side in one
process (alternating rounds, best of `--rounds`):
  - alone: what a lone search writes per trial (`add`, `finish`);
  - joining: what a worker sharing the store does per trial (also
    `finished_since`, `claim_expired`, `budget_used`, and `add` checking the
    budget), with no other worker;
  - joining, with a second worker finishing one trial per trial of this one
    (so `finished_since` returns a trial each time).
Prints ms per trial and the ratio to "alone".

    python benchmarks/shared_store.py --trials=2000
"""

import os
import tempfile
import time

from absl import app
from absl import flags
import pyglove as pg

from symbolic_automl import storage
from symbolic_automl import trial as trial_lib

_TRIALS = flags.DEFINE_integer("trials", 2000, "Trials per row.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Rounds; each row's best is shown.")

DNA_JSON = pg.to_json_str(pg.DNA([1] * 15 + [0.5] * 5))


def _trial():
    now = time.time()
    return trial_lib.Trial(id=0, dna=None, dna_json=DNA_JSON, status=trial_lib.RUNNING,
                           created=now, started=now)


def _finish(store, trial):
    trial.status, trial.reward, trial.metrics = trial_lib.COMPLETED, 1.0, {"reward": 1.0}
    trial.finished = time.time()
    store.finish(trial)


def run(n: int, joining: bool, other_worker: bool) -> float:
    with tempfile.TemporaryDirectory() as root:
        path = os.path.join(root, storage.FILENAME)
        store = storage.TrialStore(path)
        other = storage.TrialStore(path) if other_worker else None
        cursor = 0
        start = time.perf_counter()
        for _ in range(n):
            if other is not None:  # Not timed apart: the other worker's writes cost too.
                theirs = _trial()
                other.add(theirs)
                _finish(other, theirs)
            trial = _trial()
            if joining:
                _, cursor = store.finished_since(cursor)
                store.claim_expired(limit=1)
                store.budget_used()
                store.add(trial, budget=10 * n)
            else:
                store.add(trial)
            _finish(store, trial)
        elapsed = time.perf_counter() - start
        store.close()
        if other is not None:
            other.close()
        return elapsed / n * 1e3


def main(argv):
    del argv
    n = _TRIALS.value
    rows = {"alone (add, finish)": (False, False),
            "joining, no other worker": (True, False),
            "alone, a second worker writing beside it": (False, True),
            "joining, a second worker finishing beside it": (True, True)}
    best = {name: float("inf") for name in rows}
    for _ in range(_ROUNDS.value):
        for name, (joining, other) in rows.items():
            best[name] = min(best[name], run(n, joining, other))
    print(f"\nStore calls per trial, {n} trials, durable SQLite (WAL), best of "
          f"{_ROUNDS.value} rounds")
    print(f"{'row':<50}{'ms/trial':>10}{'ratio':>8}")
    base = {False: best["alone (add, finish)"],
            True: best["alone, a second worker writing beside it"]}
    for name, (joining, other) in rows.items():
        print(f"{name:<50}{best[name]:>10.3f}{best[name] / base[other]:>7.2f}x")


if __name__ == "__main__":
    app.run(main)
