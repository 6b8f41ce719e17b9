"""Executors: parallel trials per hour, per-trial overhead, and memory over many trials.

Prints, in one run, side by side:

1. throughput: trials per hour of small CPU-bound Keras trials (a CNN on
   digits) with `LocalPool(workers=1)` and `LocalPool(workers=2)`, one
   TensorFlow thread per worker, and in process (TensorFlow on every core),
   as ratios to one worker;
2. overhead: wall time per trial of a no-op evaluator, `capacity` jobs in
   flight, for `InProcess`, `LocalPool(workers=2)` and `Ray` on a local Ray
   with 2 CPUs, as ratios to LocalPool;
3. memory: RSS of the evaluating process after 10 and after N trials through
   `sa.search` with the default executor (in process) and with
   `WorkerProcess(trials_per_worker=25)` (the worker's RSS, and the search
   process's own).

    nice -n 10 python benchmarks/executors.py --parts=throughput,overhead   # ~3 min on 2 cores
    nice -n 10 python benchmarks/executors.py --parts=memory --memory_trials=200

Targets (DESIGN.md): 2 workers on 2 cores >= 1.8x the trials per hour of one;
RSS after 200 trials within 10% of after 10.
"""

import os
import time

from absl import app
from absl import flags
import numpy as np
import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import data
from symbolic_automl import executors
from symbolic_automl import keras

import keras_evaluator  # pylint: disable=g-bad-import-order  (benchmarks/, beside this file)

_PARTS = flags.DEFINE_list("parts", ["throughput", "overhead", "memory"], "What to measure.")
_TRIALS = flags.DEFINE_integer("throughput_trials", 16, "Timed Keras trials per executor.")
_EPOCHS = flags.DEFINE_integer("throughput_epochs", 2, "Epochs per throughput trial.")
_NOOP_TRIALS = flags.DEFINE_integer("noop_trials", 200, "No-op trials per executor (overhead).")
_MEMORY_TRIALS = flags.DEFINE_integer("memory_trials", 200, "Trials per search (memory).")


def cnn_space():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(pg.oneof([16, 24, 32]), 3, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax")])


class CPUTimed:
    """Adds the CPU seconds the evaluating process spent on the trial (all its threads)."""

    def __init__(self, evaluator):
        self.evaluator = evaluator

    def __call__(self, model, context):
        start = time.process_time()
        metrics = self.evaluator(model, context)
        metrics["cpu_seconds"] = time.process_time() - start
        return metrics


def noop(model, context):
    del model, context
    return {"reward": 0.0}


def run_jobs(executor, evaluator, models):
    """Runs every model, keeping `capacity` in flight; returns (seconds, outcomes)."""
    start = time.perf_counter()
    outcomes, queue = [], list(enumerate(models, 1))
    while queue or executor.in_flight:
        while queue and executor.in_flight < executor.capacity:
            trial_id, model = queue.pop(0)
            executor.submit(evaluator, executors.Job(trial_id, model), lambda *_: False)
        outcomes += executor.wait()
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} trials failed, e.g. {failed[0].error!r}")
    return time.perf_counter() - start, outcomes


def throughput():
    (x, y), validation = data.load("digits")
    evaluator = CPUTimed(sa.KerasEvaluator(
        x, y, validation_data=validation,
        training=sa.Training(epochs=_EPOCHS.value, batch_size=32)))
    dnas = [pg.DNA(i % 3) for i in range(_TRIALS.value)]
    models = [pg.materialize(cnn_space(), dna) for dna in dnas]
    print(f"\n(1) Throughput: {len(models)} trials of a small CNN on digits, {_EPOCHS.value} "
          f"epochs each, after a warm-up; {len(os.sched_getaffinity(0))} CPUs")
    print(f"{'executor':<40}{'seconds':>9}{'trials/hour':>13}{'vs 1 worker':>13}"
          f"{'CPU s/trial':>13}", flush=True)
    base = None
    for name, make in (
            ("LocalPool(workers=1), 1 thread", lambda: executors.LocalPool(
                workers=1, threads_per_worker=1, trials_per_worker=1000)),
            ("LocalPool(workers=2), 1 thread each", lambda: executors.LocalPool(
                workers=2, threads_per_worker=1, trials_per_worker=1000)),
            ("InProcess (TF on every core)", executors.InProcess)):
        with make() as executor:
            run_jobs(executor, evaluator, models[:2 * executor.capacity])  # Start + first compile.
            seconds, outcomes = run_jobs(executor, evaluator, models)
        base = base or seconds
        cpu = np.mean([o.metrics["cpu_seconds"] for o in outcomes])
        print(f"{name:<40}{seconds:>9.1f}{3600 * len(models) / seconds:>13.0f}"
              f"{base / seconds:>12.2f}x{cpu:>13.2f}", flush=True)
    print("target: 2 workers >= 1.80x one worker (on an otherwise idle machine; CPU s/trial: "
          "the evaluating process's CPU time per trial, which contention does not inflate)")


def overhead():
    import ray  # pylint: disable=g-import-not-at-top

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray_start = time.perf_counter() - start
    n = _NOOP_TRIALS.value
    print(f"\n(2) Per-trial overhead: {n} no-op trials, capacity in flight "
          f"(Ray's start, not counted: {ray_start:.1f} s)")
    print(f"{'executor':<40}{'ms/trial':>10}{'vs LocalPool':>14}", flush=True)
    rows = []
    for name, make in (("LocalPool(workers=2)", lambda: executors.LocalPool(
                           workers=2, trials_per_worker=1000)),
                       ("InProcess", executors.InProcess),
                       ("Ray (local, 2 CPUs)", lambda: executors.Ray(trials_per_worker=1000))):
        with make() as executor:
            run_jobs(executor, noop, [{}] * (4 * executor.capacity))  # Workers started.
            seconds, _ = run_jobs(executor, noop, [{}] * n)
        rows.append(seconds / n * 1e3)
        print(f"{name:<40}{rows[-1]:>10.3f}{rows[-1] / rows[0]:>13.2f}x", flush=True)
    ray.shutdown()


def memory():
    (x, y), validation = data.load("digits")
    n = _MEMORY_TRIALS.value
    evaluator = keras_evaluator.MeasuredEvaluator(sa.KerasEvaluator(
        x[:512], y[:512], validation_data=validation, training=sa.Training(epochs=1)))
    dnas = [pg.DNA([i % 3, (i // 3) % 2]) for i in range(n)]
    print(f"\n(3) Memory: {n} trials of a tiny MLP on digits through sa.search, 1 epoch each")
    print(f"{'process':<34}{'RSS@10 MiB':>11}{f'RSS@{n} MiB':>12}{'max MiB':>9}{'growth':>9}"
          f"{'seconds':>9}", flush=True)

    def row(name, rss, seconds):
        print(f"{name:<34}{rss[10]:>11.0f}{rss[n]:>12.0f}{max(rss.values()):>9.0f}"
              f"{rss[n] / rss[10] - 1:>+9.1%}{seconds:>9.1f}", flush=True)

    for name, executor in (("default (InProcess)", None),
                           ("WorkerProcess(25): the worker", executors.WorkerProcess(25))):
        search_rss = {}

        class SearchRSS(sa.callbacks.Callback):
            def on_trial_end(self, trial):
                search_rss[trial.id] = keras_evaluator.rss_mib()

        start = time.perf_counter()
        result = sa.search(keras_evaluator.space(), algorithm=keras_evaluator.Replay(dnas=dnas),
                           evaluator=evaluator, max_trials=n, objective="val_accuracy",
                           executor=executor, progress=False, callbacks=[SearchRSS()])
        seconds = time.perf_counter() - start
        row(name, {t.id: t.metrics["rss_mib"] for t in result.trials}, seconds)
        if executor is not None:
            row("WorkerProcess(25): the search", search_rss, seconds)
    print("target: RSS after 200 within 10% of after 10")


def main(argv):
    del argv
    np.random.seed(0)
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for part in _PARTS.value:
        {"throughput": throughput, "overhead": overhead, "memory": memory}[part]()
    print(f"load average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
