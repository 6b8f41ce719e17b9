"""A new search algorithm in ~30 lines: simulated annealing as a plug-in.

The algorithm subclasses `symbolic_automl.algorithms.Algorithm` (a
`pg.DNAGenerator`): it sees only the space's genotype, never Keras. The script
checks it with the shared conformance suite, then searches a tiny Keras MLP on
scikit-learn's bundled digits (offline, ~1 minute on two CPU cores).

    python demos/plugin_algorithm.py
"""

import math
import random

import pyglove as pg

import symbolic_automl
from symbolic_automl import algorithms as sa
from symbolic_automl import data
from symbolic_automl import keras


# ---- The plug-in: everything an algorithm needs is in these lines. -------------------
@pg.members([("temperature", pg.typing.Float(min_value=0.0, default=0.1)),
             ("cooling", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.9))])
class SimulatedAnnealing(sa.Algorithm):
    """Mutates the current DNA; accepts a worse one with probability exp(delta / T)."""

    _avoid_duplicates = True  # Never spend a trial twice on the same DNA.

    def _setup_algorithm(self):
        self._current, self._current_reward, self._t = None, -math.inf, self.temperature

    def _observe(self, assignment, reward):
        # Acceptance draws from a generator seeded by the feedback count: resumable.
        rng = random.Random(self._base_seed + 7919 * self.num_feedbacks)
        delta = reward - self._current_reward
        if delta >= 0 or rng.random() < math.exp(delta / max(self._t, 1e-9)):
            self._current, self._current_reward = assignment, reward
        self._t *= self.cooling

    def _propose_assignment(self, rng):
        if self._current is None:
            return self.genome.sample(rng)
        child = dict(self._current)
        del child[rng.choice(list(child))]      # Forget one decision ...
        return self.genome.sample(rng, base=child)  # ... and resample it (and its subtree).
# ----------------------------------------------------------------------------------------


def mlp(num_classes):
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(pg.oneof([16, 32, 64]), activation=pg.oneof(["relu", "tanh"])),
        keras.layers.Dropout(pg.oneof([0.0, 0.2])),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])


def main(max_trials: int = 6, root_dir=None):
    outcome = sa.conformance.check(lambda seed: SimulatedAnnealing(seed=seed),
                                   promises_no_duplicates=True)
    print(f"conformance: {sum(v == 'passed' for v in outcome.values())} checks passed")
    (x, y), validation = data.load("digits", limit=600)
    evaluator = symbolic_automl.KerasEvaluator(
        x, y, validation_data=validation,
        training=symbolic_automl.Training(epochs=1, batch_size=32, learning_rate=1e-2))
    result = symbolic_automl.search(mlp(10), SimulatedAnnealing(seed=1), evaluator,
                                    max_trials=max_trials, root_dir=root_dir, progress=False)
    print(f"best val_accuracy {result.best.reward:.3f} (trial {result.best.id})")
    return result


if __name__ == "__main__":
    main()
