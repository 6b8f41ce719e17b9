"""LocalPool: GPU assignment per worker, dead workers replaced, recycling, clear errors.

No GPU is needed: the assignment is checked on the environment each worker
gets (and, end to end, on what a worker process sees), with GPU names given
or faked through `CUDA_VISIBLE_DEVICES` and a stand-in `nvidia-smi`.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import executors
from symbolic_automl.executors import gpus as gpus_lib
import executor_evaluators as evaluators  # pylint: disable=g-bad-import-order  (conftest's path)

GROWTH = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def _cuda(pool):
    return [pool.worker_environment(i).get("CUDA_VISIBLE_DEVICES") for i in range(pool.workers)]


def test_whole_gpus_each_worker_its_own():
    pool = executors.LocalPool(gpus_per_trial=1, gpus=["0", "1", "2"])
    assert pool.workers == pool.capacity == 3  # Default: as many workers as GPUs hold.
    assert _cuda(pool) == ["0", "1", "2"]
    assert not set(GROWTH) & set(pool.worker_environment(0))
    pool = executors.LocalPool(gpus_per_trial=2, gpus=["3", "5", "6", "7", "8"])
    assert _cuda(pool) == ["3,5", "6,7"]  # The fifth GPU is left over.


def test_fractional_gpus_pack_workers_with_memory_growth():
    pool = executors.LocalPool(gpus_per_trial=0.5, gpus=["0", "1"])
    assert _cuda(pool) == ["0", "0", "1", "1"]
    for slot in range(4):
        assert GROWTH.items() <= pool.worker_environment(slot).items()
    assert _cuda(executors.LocalPool(gpus_per_trial=1 / 3, gpus=["4"])) == ["4"] * 3
    assert _cuda(executors.LocalPool(workers=2, gpus_per_trial=0.25, gpus=["4", "6"])) == [
        "4", "4"]


def test_cpu_trials_hide_gpus_and_none_leaves_them(monkeypatch):
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    pool = executors.LocalPool(workers=2, gpus=["0"])
    assert _cuda(pool) == ["", ""]  # CPU trials on a GPU machine see no GPU.
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert pool.worker_environment(1)["TF_NUM_INTRAOP_THREADS"] == threads
    assert pool.worker_environment(1)["OMP_NUM_THREADS"] == threads
    assert "CUDA_VISIBLE_DEVICES" not in executors.LocalPool(workers=2, gpus=[]).worker_environment(0)
    assert executors.LocalPool(workers=1, gpus_per_trial=None, gpus=["0"]).worker_environment(
        0) == {}
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "7")  # The user's own setting wins.
    pool = executors.LocalPool(workers=2, gpus=[], threads_per_worker=3)
    assert "TF_NUM_INTRAOP_THREADS" not in pool.worker_environment(0)
    assert pool.worker_environment(0)["TF_NUM_INTEROP_THREADS"] == "3"


def test_gpu_detection(monkeypatch, tmp_path):
    for value, expected in (("2,3", ["2", "3"]), ("", []), ("-1", []), ("0,-1,1", ["0"]),
                            ("GPU-ab12, GPU-cd34", ["GPU-ab12", "GPU-cd34"])):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
        assert gpus_lib.visible_gpus() == expected, value
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-1)'\n"
                    "echo 'GPU 1: NVIDIA H200 (UUID: GPU-2)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpus_lib.visible_gpus() == ["0", "1"]
    assert _cuda(executors.LocalPool(gpus_per_trial=1)) == ["0", "1"]
    fake.unlink()
    assert gpus_lib.visible_gpus() == []
    with pytest.raises(ValueError, match="gpus_per_trial=1 but no GPU is visible "
                                         r"\(CUDA_VISIBLE_DEVICES is not set and there is no "
                                         r"nvidia-smi\)"):
        executors.LocalPool(gpus_per_trial=1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match=r"gpus_per_trial=0.5 but no GPU is visible "
                                         r"\(CUDA_VISIBLE_DEVICES=''\)"):
        executors.LocalPool(gpus_per_trial=0.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(gpus_per_trial=-1, gpus=["0"]), "gpus_per_trial must be a number >= 0.*got -1"),
    (dict(gpus_per_trial="1", gpus=["0"]), "gpus_per_trial must be a number >= 0.*got '1'"),
    (dict(gpus_per_trial=True, gpus=["0"]), "gpus_per_trial must be a number.*got True"),
    (dict(gpus_per_trial=float("nan"), gpus=["0"]), "gpus_per_trial must be a number.*nan"),
    (dict(gpus_per_trial=1.5, gpus=["0", "1"]), "above 1 must be a whole number.*1.5"),
    (dict(gpus_per_trial=3, gpus=["0", "1"]), "gpus_per_trial=3 but only 2 GPU"),
    (dict(workers=3, gpus_per_trial=1, gpus=["0", "1"]), "workers=3 .* at most 2 workers"),
    (dict(workers=5, gpus_per_trial=0.5, gpus=["0", "1"]), "needs 2.5 GPUs.*at most 4"),
    (dict(workers=0), "workers must be a positive int, got 0"),
    (dict(workers=2.0), "workers must be a positive int, got 2.0"),
    (dict(trials_per_worker=0), "trials_per_worker must be a positive int, got 0"),
    (dict(start_method="thread"), "start_method must be one of .*got 'thread'"),
    (dict(threads_per_worker=0), "threads_per_worker must be a positive int, got 0"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        executors.LocalPool(**kwargs)


def test_each_worker_process_sees_only_its_gpus():
    # Fake GPU names: no GPU is touched, the worker only reports its environment.
    names = ["CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_PREALLOCATE"]
    before = {n: os.environ.get(n) for n in names}
    with executors.LocalPool(workers=2, gpus_per_trial=1, gpus=["7", "9"]) as pool:
        outcomes = evaluators.run_jobs(pool, evaluators.timed, [{"seconds": 0.5, "env": names}] * 4)
    seen = {o.metrics["pid"]: o.metrics["env"]["CUDA_VISIBLE_DEVICES"] for o in outcomes}
    assert sorted(seen.values()) == ["7", "9"], seen  # Two workers, one GPU each.
    assert all(o.metrics["env"]["TF_FORCE_GPU_ALLOW_GROWTH"] is None for o in outcomes)
    assert {n: os.environ.get(n) for n in names} == before  # This process is left as it was.
    with executors.LocalPool(workers=1, gpus_per_trial=0.5, gpus=["4"]) as pool:
        outcome, = evaluators.run_jobs(pool, evaluators.timed, [{"seconds": 0, "env": names}])
    assert outcome.metrics["env"] == {"CUDA_VISIBLE_DEVICES": "4", **GROWTH}


def test_a_dead_worker_fails_its_trial_only_and_is_replaced(tmp_path):
    with executors.LocalPool(workers=2, trials_per_worker=50) as pool:
        outcomes = evaluators.run_jobs(pool, evaluators.curve, [{"x": 2}, {"x": 3}, {"x": 4}, {"x": 5}])
        by_id = {o.trial_id: o for o in outcomes}
        assert type(by_id[1].error) is executors.WorkerLostError
        assert str(by_id[1].error).startswith(
            "The worker process evaluating trial 1 died (exit code 3)")
        assert [by_id[i].metrics["reward"] for i in (2, 3, 4)] == [9, 12, 15]
        # Killed from outside (as the OOM killer does): named by its signal.
        pid_file = tmp_path / "pid"
        pool.submit(evaluators.blocks, executors.Job(7, {"pid_file": str(pid_file)}),
                    lambda *_: False)
        while not pid_file.exists() or not pid_file.read_text():
            assert pool.wait(timeout=0.1) == []
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        outcome, = pool.wait(timeout=30)
        assert outcome.trial_id == 7 and "trial 7 died (killed by SIGKILL)" in str(outcome.error)
        assert pool.in_flight == 0
        assert [o.metrics["reward"] for o in evaluators.run_jobs(pool, evaluators.curve, [{"x": 6}] * 2)] == [
            18, 18]


def test_workers_end_with_a_killed_search(tmp_path):
    pid_file = tmp_path / "pid"
    script = textwrap.dedent(f"""
        import os, signal
        import executor_evaluators as evaluators
        from symbolic_automl import executors
        if __name__ == "__main__":
            pool = executors.LocalPool(workers=1)
            pool.submit(evaluators.blocks, executors.Job(1, {{"pid_file": {str(pid_file)!r}}}),
                        lambda *_: False)
            while not os.path.exists({str(pid_file)!r}) or not open({str(pid_file)!r}).read():
                pool.wait(timeout=0.1)
            os.kill(os.getpid(), signal.SIGKILL)  # No cleanup runs: as kill -9 or the OOM killer.
    """)
    (tmp_path / "search.py").write_text(script)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    process = subprocess.run([sys.executable, str(tmp_path / "search.py")], env=env,
                             timeout=120, capture_output=True, text=True)
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    pid = int(pid_file.read_text())
    deadline = time.time() + 20
    while evaluators.process_running(pid):
        assert time.time() < deadline, f"worker {pid} outlived its search"
        time.sleep(0.1)


def test_workers_are_recycled_every_trials_per_worker():
    with executors.LocalPool(workers=1, trials_per_worker=2) as pool:
        outcomes = evaluators.run_jobs(pool, evaluators.timed, [{"seconds": 0}] * 5)
    pids = [o.metrics["pid"] for o in outcomes]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4], pids
    assert len(set(pids)) == 3


def test_a_new_evaluator_reaches_the_running_worker():
    with executors.LocalPool(workers=1) as pool:
        timed, = evaluators.run_jobs(pool, evaluators.timed, [{"seconds": 0}])
        curve, = evaluators.run_jobs(pool, evaluators.curve, [{"x": 3, "steps": 1}])
    assert curve.metrics == {"reward": 3, "pid": timed.metrics["pid"]}


def test_what_cannot_travel_is_named():
    pool = executors.LocalPool(workers=1)
    with pytest.raises(TypeError, match="evaluator function cannot be sent to worker processes"):
        pool.submit(lambda model, context: {}, executors.Job(1, {}), lambda *_: False)
    # A model that cannot be pickled fails its own trial; the next one runs.
    pool.submit(evaluators.noop, executors.Job(1, {"bad": lambda: 0}), lambda *_: False)
    pool.submit(evaluators.noop, executors.Job(2, {}), lambda *_: False)
    outcomes = []
    while pool.in_flight:
        outcomes += pool.wait(timeout=30)
    pool.close()
    by_id = {o.trial_id: o for o in outcomes}
    assert by_id[1].error is not None and "lambda" in str(by_id[1].error)
    assert by_id[2].metrics == {"reward": 0.0}


def test_search_records_pool_trials_like_in_process(tmp_path):
    result = evaluators.search_curve(executors.LocalPool(workers=2), str(tmp_path / "run"))
    assert [t.status for t in result.trials] == [
        "infeasible", "failed", "failed", "stopped", "stopped"]
    assert result.trials[1].error.startswith("ValueError: broken trial")
    assert "died (exit code 3)" in result.trials[2].error
    assert [t.reward for t in result.trials[3:]] == [6, 8]
    assert [[m.step for m in t.measurements] for t in result.trials[3:]] == [[1, 2], [1, 2]]
    # The search process recorded them: the store holds the same trials.
    store = sa.TrialStore.in_dir(str(tmp_path / "run"))
    assert [(t.status, t.reward) for t in store.trials()] == [
        (t.status, t.reward) for t in result.trials]
    store.close()


def test_a_search_keeps_a_trial_running_in_each_worker(tmp_path):
    space = pg.Dict(seconds=pg.oneof([0.5, 0.6, 0.7, 0.8]), reward=1.0)
    result = sa.search(space, algorithm=pg.geno.Sweeping(), evaluator=evaluators.timed,
                       max_trials=4, root_dir=str(tmp_path / "run"), objective="trial",
                       executor=executors.LocalPool(workers=2), progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 4
    intervals = [(t.metrics["start"], t.metrics["end"]) for t in result.trials]
    # parallelism defaults to the pool's capacity: two trials ran at once, never three.
    assert max(sum(s <= start < e for s, e in intervals) for start, _ in intervals) == 2
    assert len({t.metrics["pid"] for t in result.trials}) == 2
