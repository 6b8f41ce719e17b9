"""The core's algorithm contract: an algorithm needs no DARTS recipe to train a supernet."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl.algorithms.weight_sharing import GDAS  # noqa: E402
from symbolic_automl.oneshot import (  # noqa: E402
    SupernetOptimizers, SupernetRun, WeightSharingAlgorithm)


def _space():
    return sk.Sequential([
        sk.Input(shape=(4,)),
        pg.oneof([sk.layers.Dense(8, activation="relu"), sk.layers.Dense(8, activation="tanh")]),
        sk.layers.Dense(1),
    ])


def _data():
    x = np.random.default_rng(0).standard_normal((256, 4)).astype("float32")
    return x, (x[:, :1] * 2 - x[:, 1:2]).astype("float32")


@pg.members([("learning_rate", pg.typing.Float(default=0.02), "Adam's, for both.")])
class AdamOnly(WeightSharingAlgorithm):
    """A minimal algorithm: Adam everywhere, no clipping, no weight decay."""

    def optimizers(self, total_steps):
        return SupernetOptimizers(weights=keras.optimizers.Adam(self.learning_rate),
                                  learning_rate=lambda step: self.learning_rate,
                                  architecture=keras.optimizers.Adam(self.learning_rate))


def test_the_base_has_no_training_recipe():
    for recipe_field in ("w_learning_rate", "w_momentum", "grad_clip", "a_beta_1",
                         "init_scale"):
        assert recipe_field not in WeightSharingAlgorithm.__schema__.fields
    # Without optimizers it cannot train a supernet: a clear error, before any step.
    with pytest.raises(TypeError, match="defines no optimizers.*DARTSRecipe"):
        SupernetRun(WeightSharingAlgorithm(epochs=1, loss="mse"), _space(), _data())


def test_an_algorithm_with_its_own_optimizers_trains_the_supernet():
    keras.utils.set_random_seed(0)
    run = SupernetRun(AdamOnly(epochs=4, batch_size=32, loss="mse"), _space(), _data())
    assert [a.tolist() for a in run.stepper.alpha_values()] == [[0.0, 0.0]]  # uniform start
    assert run.stepper.grad_clip is None and run.stepper.w_weight_decay == 0.0
    run.train()
    losses = [h["train_loss"] for h in run.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert not np.allclose(run.stepper.alpha_values()[0], 0.0)


def test_an_order_without_a_rule_is_a_clear_error():
    run = SupernetRun(GDAS(epochs=1, batch_size=32, loss="mse"), _space(), _data())
    batches = run.x_w[:32], run.y_w[:32], run.x_a[:32], run.y_a[:32]
    with pytest.raises(ValueError, match="order 2 needs a rule"):
        run.stepper.arch_gradients(*batches, run.noise(), order=2)
