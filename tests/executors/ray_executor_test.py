"""Ray: a killed worker is retried then recorded failed, a raised error is not retried,
reports reach early stopping through a search, and settings are checked.

Runs on one local Ray per test session (`ray.init(num_cpus=2)`, see conftest);
skipped when Ray is not installed. A slow test also searches on a cluster that
`ray start` began apart from the search, reached by its address.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

import symbolic_automl as sa
from symbolic_automl import executors
from symbolic_automl.executors import ray_executor
import executor_evaluators as evaluators  # pylint: disable=g-bad-import-order  (conftest's path)


def _attempts(log):
    return [json.loads(line)["pid"] for line in log.read_text().splitlines()]


def test_a_killed_worker_is_retried_a_raised_error_is_not(ray_session, tmp_path):
    del ray_session
    die, raised, ok = tmp_path / "die.log", tmp_path / "raise.log", tmp_path / "ok.log"
    with executors.Ray(max_retries=2) as executor:
        lost, error, fine = evaluators.run_jobs(executor, evaluators.counted, [
            {"log": str(die), "how": "die"}, {"log": str(raised), "how": "raise"},
            {"log": str(ok), "how": "ok"}])
    # Started 1 + max_retries times, each time in a new worker (the last one died too).
    pids = _attempts(die)
    assert len(pids) == 3 and len(set(pids)) == 3
    assert type(lost.error) is executors.WorkerLostError and lost.attempts == 3
    assert str(lost.error).startswith("The Ray worker evaluating trial 1 died 3 time(s), "
                                      "max_retries=2; the last time: WorkerCrashedError")
    # The evaluator's own error: run once, its class, message and traceback kept.
    assert len(_attempts(raised)) == 1 and error.attempts == 1
    assert type(error.error) is RuntimeError and str(error.error) == "raised on purpose"
    assert 'raise RuntimeError("raised on purpose")' in str(error.error.__cause__)
    assert "Ray worker" in str(error.error.__cause__)
    assert len(_attempts(ok)) == 1 and fine.metrics == {"reward": 1.0} and fine.error is None


def test_search_on_ray_records_reports_stops_and_failures(ray_session, tmp_path):
    del ray_session
    result = evaluators.search_curve(executors.Ray(max_retries=0), str(tmp_path / "run"))
    assert [t.status for t in result.trials] == [
        "infeasible", "failed", "failed", "stopped", "stopped"]
    assert result.trials[0].error == "x=0 is not a model"
    assert result.trials[1].error.startswith("ValueError: broken trial")
    assert "died 1 time(s), max_retries=0" in result.trials[2].error
    # Early stopping saw each report as it came, and its answer stopped the trial.
    assert [[m.step for m in t.measurements] for t in result.trials[3:]] == [[1, 2], [1, 2]]
    assert [t.reward for t in result.trials[3:]] == [6, 8]
    store = sa.TrialStore.in_dir(str(tmp_path / "run"))
    assert [len(t.measurements) for t in store.trials()] == [0, 0, 0, 2, 2]
    store.close()


def test_capacity_follows_resources(ray_session):
    del ray_session
    assert executors.Ray().capacity == 2
    assert executors.Ray(resources_per_trial={"num_cpus": 2}).capacity == 1
    with pytest.raises(ValueError, match=r"asks for more than this Ray cluster has in all "
                                         r"\({'CPU': 2.0, 'GPU': 0}\): no trial could start"):
        executors.Ray(resources_per_trial={"num_gpus": 1}).capacity  # pylint: disable=expression-not-assigned


def test_task_options_and_capacity_rules():
    # A GPU trial gets a fresh worker process; a shared GPU grows its memory.
    assert ray_executor._task_options({"num_cpus": 1, "num_gpus": 1}, 25)["max_calls"] == 1
    shared = ray_executor._task_options({"num_cpus": 1, "num_gpus": 0.5}, 25)
    assert shared["max_calls"] == 1 and shared["runtime_env"]["env_vars"] == {
        "TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert ray_executor._task_options({"num_cpus": 1}, 25) == {"num_cpus": 1, "max_calls": 25}
    cluster = {"CPU": 16.0, "GPU": 4.0, "accelerator": 3.0}
    assert ray_executor._capacity({"num_cpus": 2, "num_gpus": 0.5}, cluster) == 8
    assert ray_executor._capacity({"num_cpus": 1, "num_gpus": 1}, cluster) == 4
    assert ray_executor._capacity({"num_cpus": 1, "resources": {"accelerator": 1}}, cluster) == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(resources_per_trial={"cpus": 1}), r"unknown keys \['cpus'\]; expected Ray's names"),
    (dict(resources_per_trial={"num_cpus": -1}), "num_cpus must be a number >= 0, got -1"),
    (dict(resources_per_trial={"num_gpus": 1.5}), "num_gpus above 1 must be a whole number"),
    (dict(resources_per_trial={"resources": {"tpu": "x"}}), r"resources\['tpu'\] must be a "
                                                            "number >= 0, got 'x'"),
    (dict(resources_per_trial=4), "resources_per_trial must be a dict"),
    (dict(max_retries=-1), "max_retries must be an int >= 0, got -1"),
    (dict(trials_per_worker=0), "trials_per_worker must be an int >= 1, got 0"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        executors.Ray(**kwargs)


_DRIVER = """
import json, sys
import executor_evaluators as evaluators
from symbolic_automl import executors
executor = executors.Ray(address=sys.argv[1], max_retries=1,
                         resources_per_trial={"num_cpus": 1, "resources": {"apart": 0.5}})
result = evaluators.search_curve(executor, sys.argv[2])
print(json.dumps([[t.status, t.error, t.reward] for t in result.trials]))
"""


@pytest.mark.slow
def test_search_on_a_ray_cluster_started_apart(tmp_path):
    """A cluster that `ray start` began in other processes, reached by its address.

    Its node alone has the custom resource the trials ask for, so they can only
    run there, not in a local Ray of the driver's own. `ray start` turns on
    token authentication (Ray 2.60): head and driver share the token.
    """
    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (os.path.dirname(os.path.abspath(evaluators.__file__)),
                    os.environ.get("PYTHONPATH")) if p),
        RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    # Short: Ray's unix sockets live under it (at most 107 characters a path).
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    log = open(tmp_path / "head.log", "w")  # pylint: disable=consider-using-with
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
         f"--port={port}", "--num-cpus=2", '--resources={"apart": 1}',
         "--include-dashboard=false", "--object-store-memory=100000000",
         f"--temp-dir={temp_dir}"],
        env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:  # Until the head's GCS listens.
            assert head.poll() is None, (f"ray start exited with {head.returncode}:\n"
                                         f"{(tmp_path / 'head.log').read_text()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "the Ray head did not start"
                time.sleep(0.5)
        driver = subprocess.run(
            [sys.executable, "-c", _DRIVER, f"127.0.0.1:{port}", str(tmp_path / "run")],
            env=env, capture_output=True, text=True, timeout=240)
        assert driver.returncode == 0, driver.stderr[-3000:]
        trials = json.loads([line for line in driver.stdout.splitlines()
                             if line.startswith("[")][-1])
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert [status for status, _, _ in trials] == [
        "infeasible", "failed", "failed", "stopped", "stopped"]
    assert trials[1][1].startswith("ValueError: broken trial")
    assert "died 2 time(s), max_retries=1" in trials[2][1]  # Retried once on the cluster.
    assert [reward for _, _, reward in trials[3:]] == [6, 8]  # Early stopping at step 2.
