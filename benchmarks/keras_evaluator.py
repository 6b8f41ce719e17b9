"""Keras evaluator: memory across trials and time overhead over a hand-written fit.

Prints (1) the time of `sa.search` with `KerasEvaluator` beside a
hand-written loop of `compile` + `fit` of the same models and data, as ratios.
Each block of `--time_trials` trials runs in a fresh process (so that the
hand-written loop's leaked graphs cannot slow our collections, nor our
clearing its kernels), after one untimed fit; the blocks alternate ABBA, so
that drift in the machine's speed falls on both alike. (2) RSS after 10 and
after N in-process trials of a tiny model, for our search loop and for a
hand-written loop of `model.fit` calls that never clears Keras state (the
usual notebook pattern).

    python benchmarks/keras_evaluator.py --trials=200 --time_blocks=4 --time_trials=15
    python benchmarks/keras_evaluator.py --pairs=40   # alternating trials in one process
    python benchmarks/keras_evaluator.py --kernel_cache_pairs=40   # why KerasEvaluator keeps it
Targets (DESIGN.md): RSS after 200 trials within 10% of after 10; the
evaluator adds at most 5% to a hand-written fit.
"""

import json
import os
import subprocess
import sys
import time

from absl import app
from absl import flags
import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import executors
from symbolic_automl import data
from symbolic_automl import keras

_TRIALS = flags.DEFINE_integer("trials", 100, "Trials per loop (memory).")
_TIME_TRIALS = flags.DEFINE_integer("time_trials", 15, "Trials per timed block.")
_TIME_BLOCKS = flags.DEFINE_integer("time_blocks", 4, "Timed blocks of each loop.")
_TF_THREADS = flags.DEFINE_integer(
    "tf_threads", 0, "TensorFlow threads in each timed block or paired run (0: its default, "
    "as users run it).")
_BLOCK = flags.DEFINE_enum("block", None, ["search", "hand"],
                           "Internal: run one timed block in this process and print it.")
_PAIRS = flags.DEFINE_integer(
    "pairs", 0, "Alone: pairs of alternating trials in one process, KerasEvaluator's and "
    "hand-written ones.")
_KERNEL_CACHE_PAIRS = flags.DEFINE_integer(
    "kernel_cache_pairs", 0, "Alone: pairs of alternating trials in one process, with and "
    "without emptying TensorFlow's kernel cache before each (what KerasEvaluator keeps).")
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
    if _BLOCK.value:
        run_block(_BLOCK.value, _TIME_TRIALS.value)
        return
    if _PAIRS.value or _KERNEL_CACHE_PAIRS.value:
        set_tf_threads()
        if _PAIRS.value:
            evaluator_pairs(_PAIRS.value)
        else:
            kernel_cache_pairs(_KERNEL_CACHE_PAIRS.value)
        return
    time_rows = time_in_blocks(_TIME_BLOCKS.value, _TIME_TRIALS.value)
    (x, y), validation = data.load("digits")
    n = _TRIALS.value
    training = sa.Training(epochs=_EPOCHS.value, batch_size=64)
    dnas = _dnas(n)

    # One fit before either loop: the process's first one pays TensorFlow's own
    # start-up (lazy imports, kernel registration), which belongs to neither loop.
    # The same as a hand-written trial, so that nothing is first-time for ours.
    hand_written_fit(dnas[0], x, y, validation, training)

    evaluator = MeasuredEvaluator(
        sa.KerasEvaluator(x, y, validation_data=validation, training=training))
    rows = []
    loops = [("sa.search, in process", None)]
    if _WORKER_PROCESS.value:
        loops.append(("sa.search, WorkerProcess(25)", executors.WorkerProcess(trials_per_worker=25)))
    for name, executor in loops:
        start = time.perf_counter()
        result = sa.search(space(), algorithm=Replay(dnas=dnas), evaluator=evaluator, max_trials=n,
                           objective="val_accuracy", executor=executor, progress=False)
        by_id = {t.id: t.metrics["rss_mib"] for t in result.trials}  # The evaluating process.
        rows.append((name, by_id[10], by_id[n], time.perf_counter() - start))

    # Hand-written: materialize the same models, compile + fit, nothing cleared.
    # Last, so that what it leaves behind cannot inflate the rows above.
    rss = {}
    start = time.perf_counter()
    for i, dna in enumerate(dnas, 1):
        hand_written_fit(dna, x, y, validation, training)
        if i in (10, n):
            rss[i] = rss_mib()
    rows.append(("hand-written model.fit", rss[10], rss[n], time.perf_counter() - start))

    print(f"Time: {_TIME_BLOCKS.value} blocks of {_TIME_TRIALS.value} trials of each (fresh "
          f"processes, ABBA, {_TF_THREADS.value or 'default'} TensorFlow thread(s)), a tiny MLP "
          f"on digits, {_EPOCHS.value} epoch(s) each; load "
          f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':<32}{'seconds':>10}{'CPU s':>8}{'wall ratio':>12}{'CPU ratio':>11}")
    (_, hand_wall, hand_cpu) = time_rows[-1]
    for name, wall, cpu in time_rows:
        print(f"{name:<32}{wall:>10.1f}{cpu:>8.1f}{wall / hand_wall:>12.3f}{cpu / hand_cpu:>11.3f}")
    print("(CPU: the block process's, all its threads, which a shared machine disturbs less "
          "than wall time; target: <= 1.05x)")
    print(f"\nMemory: {n} trials in a row")
    print(f"{'loop':<32}{'RSS@10 MiB':>12}{f'RSS@{n} MiB':>13}{'growth':>9}{'seconds':>10}")
    for name, at_10, at_n, seconds in rows:
        print(f"{name:<32}{at_10:>12.0f}{at_n:>13.0f}{at_n / at_10 - 1:>+9.1%}{seconds:>10.1f}")
    print("(the hand-written loop clears nothing between trials; WorkerProcess rows give the "
          "worker's RSS; target: in process within 10%)")


def hand_written_fit(dna, x, y, validation, training):
    model = pg.materialize(space(), dna).to_keras()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, validation_data=validation, epochs=int(training.epochs),
              batch_size=int(training.batch_size), verbose=0)


def time_in_blocks(n_blocks, n_trials):
    """(name, wall s, CPU s) summed over n_blocks fresh-process blocks of each loop, ABBA."""
    totals = {"sa.search + KerasEvaluator": [0.0, 0.0], "hand-written model.fit": [0.0, 0.0]}
    kinds = {"sa.search + KerasEvaluator": "search", "hand-written model.fit": "hand"}
    blocks = {}
    for b in range(n_blocks):
        names = list(totals) if b % 2 == 0 else list(reversed(totals))
        for name in names:
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), f"--block={kinds[name]}",
                 f"--time_trials={n_trials}", f"--epochs={_EPOCHS.value}",
                 f"--tf_threads={_TF_THREADS.value}"],
                check=True, capture_output=True, text=True).stdout
            block = json.loads(out.strip().splitlines()[-1])
            totals[name][0] += block["wall"]
            totals[name][1] += block["cpu"]
            blocks.setdefault(name, []).append(block["cpu"])
    ours, hand = blocks.values()
    ratios = sorted(o / h for o, h in zip(ours, hand))
    print(f"CPU ratio per pair of blocks: {', '.join(f'{r:.3f}' for r in ratios)}")
    return [(name, wall, cpu) for name, (wall, cpu) in totals.items()]


def evaluator_pairs(n):
    """CPU of a KerasEvaluator trial over a hand-written one, alternating in one process.

    Ours includes everything it does per trial (clearing Keras, garbage
    collections, releasing graphs, the report callback); what a process does
    once (its first full collection) is in the block figures instead.
    """
    (x, y), validation = data.load("digits")
    training = sa.Training(epochs=_EPOCHS.value, batch_size=64)
    evaluator = sa.KerasEvaluator(x, y, validation_data=validation, training=training)
    ours = lambda dna: evaluator(pg.materialize(space(), dna), None)
    hand = lambda dna: hand_written_fit(dna, x, y, validation, training)
    for dna in _dnas(2):  # TensorFlow's start-up, and our first collection.
        ours(dna)
    print_pairs(f"Paired trials: {n} pairs in one process", ("KerasEvaluator", "hand-written"),
                *alternating_cpu(n, ours, hand))


def kernel_cache_pairs(n):
    """CPU of a hand-written trial after emptying TensorFlow's kernel cache, over one without.

    Clearing the cache itself is not timed, only what it costs the trial after
    it (making its kernels again).
    """
    from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top

    (x, y), validation = data.load("digits")
    training = sa.Training(epochs=_EPOCHS.value, batch_size=64)
    hand = lambda dna: hand_written_fit(dna, x, y, validation, training)
    for dna in _dnas(2):
        hand(dna)  # TensorFlow's own start-up.
    print_pairs(f"Kernel cache: {n} pairs of trials", ("emptied", "kept"),
                *alternating_cpu(n, hand, hand, before_a=context.context().clear_kernel_cache))


def alternating_cpu(n, run_a, run_b, before_a=lambda: None):
    """CPU seconds of n trials of `run_a` and n of `run_b` (each given a DNA), in turns.

    ABBA by trial, so that the machine's drift, which moves whole blocks by
    10-20% here, falls on both alike; `before_a` runs untimed before each A.
    """
    a, b = [], []
    for i, dna in enumerate(_dnas(2 * n)):
        is_a = i % 4 in (1, 2)
        if is_a:
            before_a()
        cpu = time.process_time()
        (run_a if is_a else run_b)(dna)
        (a if is_a else b).append(time.process_time() - cpu)
    return a, b


def print_pairs(title, names, a, b):
    import statistics  # pylint: disable=g-import-not-at-top

    ratios = [x / y for x, y in zip(a, b)]
    print(f"{title}; CPU per trial, median: {names[0]} {statistics.median(a) * 1e3:.0f} ms, "
          f"{names[1]} {statistics.median(b) * 1e3:.0f} ms; ratio per pair: median "
          f"{statistics.median(ratios):.3f}, mean {statistics.mean(ratios):.3f} "
          f"(sum {sum(a) / sum(b):.3f})")


def _dnas(n):
    return [pg.DNA([i % 3, (i // 3) % 2]) for i in range(n)]


def set_tf_threads():
    if _TF_THREADS.value:
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        tf.config.threading.set_intra_op_parallelism_threads(_TF_THREADS.value)
        tf.config.threading.set_inter_op_parallelism_threads(_TF_THREADS.value)


def run_block(kind, n):
    """One timed block in this process: n trials, after one untimed fit."""
    set_tf_threads()
    (x, y), validation = data.load("digits")
    training = sa.Training(epochs=_EPOCHS.value, batch_size=64)
    dnas = _dnas(n)
    hand_written_fit(dnas[0], x, y, validation, training)  # TensorFlow's own start-up.
    wall, cpu = time.perf_counter(), time.process_time()
    if kind == "search":
        sa.search(space(), algorithm=Replay(dnas=dnas), max_trials=n, objective="val_accuracy",
                  evaluator=sa.KerasEvaluator(x, y, validation_data=validation,
                                              training=training), progress=False)
    else:
        for dna in dnas:
            hand_written_fit(dna, x, y, validation, training)
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
