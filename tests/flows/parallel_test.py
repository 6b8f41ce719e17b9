"""Inner searches of different outer trials run at once, in the executor's worker processes."""

import os
import time

import pyglove as pg
import pytest

from symbolic_automl import executors
from symbolic_automl import flows
from symbolic_automl import algorithms as sa

OUTER_SPACE = pg.Dict(budget=pg.oneof([2, 3, 4, 5]))


def inner_space(outer):
    return pg.Dict(x=pg.oneof(list(range(outer.budget))), y=pg.oneof([0, 1]))


class Timed:
    """Logs (pid, start, end) of each inner evaluation; sleeps so that overlaps show."""

    def __init__(self, log_path):
        self.log_path = log_path

    def __call__(self, model, context):
        start = time.time()
        time.sleep(0.3)
        with open(self.log_path, "a") as f:
            f.write(f"{os.getpid()} {context.trial_id} {start} {time.time()}\n")
        return {"reward": float(model.x + model.y)}


@pytest.mark.slow
def test_inner_searches_run_in_parallel_on_a_local_pool(tmp_path):
    log = str(tmp_path / "log")
    inner = flows.InnerSearch(inner_space, sa.random(seed=1), Timed(log), max_trials=3)
    result = flows.nested(OUTER_SPACE, sa.grid(), inner, max_trials=4, root_dir=str(tmp_path),
                          progress=False, executor=executors.LocalPool(workers=2),
                          parallelism=2)
    assert [t.status for t in result.trials] == ["completed"] * 4
    rows = [line.split() for line in open(log).read().splitlines()]
    assert len(rows) == 12
    pids = {r[0] for r in rows}
    assert len(pids) == 2 and str(os.getpid()) not in pids  # Both workers, not the driver.
    for outer in result.trials:
        inner_result = result.inner(outer)
        assert len(inner_result.trials) == 3
        assert all(t.parent_id == outer.id for t in inner_result.trials)
        assert outer.reward == max(t.reward for t in inner_result.trials)
    # Evaluations of different workers overlapped in time: two inner searches at once.
    spans = [(r[0], float(r[2]), float(r[3])) for r in rows]
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans)
