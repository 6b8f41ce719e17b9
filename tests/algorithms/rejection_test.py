"""Evaluator-side rejection with a real (tiny) Keras proxy run."""

import numpy as np
import pyglove as pg
import pytest

import symbolic_automl
from symbolic_automl import algorithms as sa
from symbolic_automl import data
from symbolic_automl import keras


def _mlp(units):
    return keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def test_keras_proxy_check_scores_learning_and_non_learning_models():
    import keras as real_keras
    real_keras.utils.set_random_seed(0)
    (x, y), validation = data.load("digits", limit=320)
    check = sa.keras_proxy_check(x, y, steps=30, batch_size=32, validation_data=validation)
    learned = check(_mlp(32), None)
    # Shuffled labels: nothing to learn, the proxy score stays near chance (0.1).
    shuffled = sa.keras_proxy_check(x, np.random.RandomState(0).permutation(y), steps=30,
                                    validation_data=validation)(_mlp(32), None)
    assert learned > 0.5 and shuffled < 0.3, (learned, shuffled)


def test_with_rejection_in_search_with_keras_proxy():
    import keras as real_keras
    real_keras.utils.set_random_seed(1)
    (x, y), validation = data.load("digits", limit=256)
    space = _mlp(pg.oneof([1, 32]))
    full = lambda model, context: {"reward": 1.0}
    # A 1-unit bottleneck cannot reach 35% in 30 steps; 32 units do.
    evaluator = sa.with_rejection(
        full, check=sa.keras_proxy_check(x, y, steps=30, validation_data=validation),
        threshold=0.35)
    result = symbolic_automl.search(space, sa.grid(), evaluator, max_trials=2, progress=False)
    status = {t.model.layers[2].units if hasattr(t, "model") and t.model is not None else None:
              t.status for t in result.trials}
    assert sorted(t.status for t in result.trials) == ["completed", "rejected"], status


def test_keras_proxy_check_validates_steps():
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        sa.keras_proxy_check(np.zeros((4, 2)), np.zeros(4), steps=0)
