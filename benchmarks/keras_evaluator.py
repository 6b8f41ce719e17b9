"""Keras evaluator: memory across trials and time overhead over a hand-written fit.

Prints (1) RSS after 10 and after N in-process trials of a tiny model, for our
search loop and for a hand-written loop of `model.fit` calls that never clears
Keras state (the usual notebook pattern), and (2) the wall time of the same
trials through `sa.search` versus hand-written `compile` + `fit`, as ratios.

    python benchmarks/keras_evaluator.py --trials=100
Targets (DESIGN.md): RSS after 200 trials within 10% of after 10; the
evaluator adds at most 5% to a hand-written fit.
"""

import os
import time

from absl import app
from absl import flags
import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import executors
from symbolic_automl import data
from symbolic_automl import keras

_TRIALS = flags.DEFINE_integer("trials", 100, "Trials per loop.")
_EPOCHS = flags.DEFINE_integer("epochs", 1, "Epochs per trial.")
_WORKER_PROCESS = flags.DEFINE_bool("worker_process", True, "Also run the WorkerProcess row.")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class MeasuredEvaluator:
    """Adds the evaluating process's RSS to each trial's metrics."""

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self.objective = evaluator.objective
        self.saves_models = True

    def __call__(self, model, context):
        metrics = self.evaluator(model, context)
        metrics["rss_mib"] = rss_mib()
        return metrics


class Replay(pg.DNAGenerator):  # pylint: disable=abstract-method
    """Proposes the given DNAs in order."""

    dnas: list

    def _propose(self):
        if self.num_proposals >= len(self.dnas):
            raise StopIteration()
        return self.dnas[self.num_proposals]


def space():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
        keras.layers.Dense(pg.oneof([16, 32, 64]), activation=pg.oneof(["relu", "tanh"])),
        keras.layers.Dense(10, activation="softmax")])


def main(argv):
    del argv
    (x, y), validation = data.load("digits")
    n = _TRIALS.value
    training = sa.Training(epochs=_EPOCHS.value, batch_size=64)
    dnas = [pg.DNA([i % 3, (i // 3) % 2]) for i in range(n)]

    # One fit before either loop: the process's first one pays TensorFlow's own
    # start-up (lazy imports, kernel registration), which belongs to neither loop.
    # The same as a hand-written trial, so that nothing is first-time for ours.
    warm_up = pg.materialize(space(), dnas[0]).to_keras()
    warm_up.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    warm_up.fit(x, y, validation_data=validation, epochs=1, batch_size=64, verbose=0)
    del warm_up

    evaluator = MeasuredEvaluator(
        sa.KerasEvaluator(x, y, validation_data=validation, training=training))
    rows = []
    loops = [("sa.search, in process", None)]
    if _WORKER_PROCESS.value:
        loops.append(("sa.search, WorkerProcess(25)", executors.WorkerProcess(trials_per_worker=25)))
    for name, executor in loops:
        start, cpu = time.perf_counter(), time.process_time()
        result = sa.search(space(), algorithm=Replay(dnas=dnas), evaluator=evaluator, max_trials=n,
                           objective="val_accuracy", executor=executor, progress=False)
        seconds = time.perf_counter() - start
        # The worker's CPU time is not this process's.
        cpu_seconds = time.process_time() - cpu if executor is None else float("nan")
        by_id = {t.id: t.metrics["rss_mib"] for t in result.trials}  # The evaluating process.
        rows.append((name, by_id[10], by_id[n], seconds, cpu_seconds))

    # Hand-written: materialize the same models, compile + fit, nothing cleared.
    rss = {}  # Ours ran first, so leaks of the hand-written loop cannot inflate it.
    start, cpu = time.time(), time.process_time()
    for i, dna in enumerate(dnas, 1):
        model = pg.materialize(space(), dna).to_keras()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, validation_data=validation, epochs=_EPOCHS.value, batch_size=64,
                  verbose=0)
        if i in (10, n):
            rss[i] = rss_mib()
    hand_seconds, hand_cpu = time.time() - start, time.process_time() - cpu
    hand_rss = dict(rss)

    print(f"{n} trials of a tiny MLP on digits, {_EPOCHS.value} epoch(s) each; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'loop':<32}{'RSS@10 MiB':>12}{f'RSS@{n} MiB':>13}{'growth':>9}{'seconds':>10}"
          f"{'time ratio':>12}{'CPU s':>8}{'CPU ratio':>11}")
    rows.append(("hand-written model.fit", hand_rss[10], hand_rss[n], hand_seconds, hand_cpu))
    for name, at_10, at_n, seconds, cpu_seconds in rows:
        print(f"{name:<32}{at_10:>12.0f}{at_n:>13.0f}{at_n / at_10 - 1:>+9.1%}{seconds:>10.1f}"
              f"{seconds / hand_seconds:>12.2f}{cpu_seconds:>8.1f}{cpu_seconds / hand_cpu:>11.2f}")
    print("(time ratio: loop time / hand-written model.fit time; CPU: this process's, all its "
          "threads, which a shared machine disturbs less than wall time; the hand-written loop "
          "clears nothing between trials; WorkerProcess rows give the worker's RSS)")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
