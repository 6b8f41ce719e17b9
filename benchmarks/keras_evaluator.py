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
import keras as plain_keras
import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import data
from symbolic_automl import keras

_TRIALS = flags.DEFINE_integer("trials", 100, "Trials per loop.")
_EPOCHS = flags.DEFINE_integer("epochs", 1, "Epochs per trial.")


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


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

    class Replay(pg.DNAGenerator):
        def _propose(self):
            if self.num_proposals >= n:
                raise StopIteration()
            return dnas[self.num_proposals]

    rss = {}
    evaluator = sa.KerasEvaluator(x, y, validation_data=validation, training=training)

    def measured(model, context):
        metrics = evaluator(model, context)
        if context.trial_id in (10, n):
            rss[context.trial_id] = rss_mib()
        return metrics

    start = time.time()
    sa.search(space(), algorithm=Replay(), evaluator=measured, max_trials=n,
              objective="val_accuracy", progress=False)
    ours_seconds = time.time() - start

    ours_rss = dict(rss)

    # Hand-written: materialize the same models, compile + fit, nothing cleared.
    rss = {}  # Ours ran first, so leaks of the hand-written loop cannot inflate it.
    start = time.time()
    for i, dna in enumerate(dnas, 1):
        model = pg.materialize(space(), dna).to_keras()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, validation_data=validation, epochs=_EPOCHS.value, batch_size=64,
                  verbose=0)
        if i in (10, n):
            rss[i] = rss_mib()
    hand_seconds = time.time() - start
    hand_rss = dict(rss)

    print(f"{n} trials of a tiny MLP on digits, {_EPOCHS.value} epoch(s) each")
    print(f"{'loop':<28}{'RSS@10 MiB':>12}{f'RSS@{n} MiB':>13}{'growth':>9}{'seconds':>10}")
    for name, r, s in (("hand-written model.fit", hand_rss, hand_seconds),
                       ("sa.search + KerasEvaluator", ours_rss, ours_seconds)):
        print(f"{name:<28}{r[10]:>12.0f}{r[n]:>13.0f}{r[n] / r[10] - 1:>+9.1%}{s:>10.1f}")
    print(f"time ratio (ours / hand-written): {ours_seconds / hand_seconds:.3f}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(main)
