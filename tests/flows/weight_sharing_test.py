"""Weight sharing inside a nested search: one DARTS run per outer trial, or a swap to random."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyglove as pg  # noqa: E402
import pytest  # noqa: E402

from symbolic_automl import flows  # noqa: E402
from symbolic_automl import keras as sk  # noqa: E402
from symbolic_automl import algorithms as sa  # noqa: E402
from symbolic_automl.algorithms.weight_sharing import DARTS  # noqa: E402
from symbolic_automl.evaluators import KerasEvaluator, Training  # noqa: E402

OUTER_SPACE = pg.Dict(width=pg.oneof([2, 4]))


def inner_space(outer):
    """The outer width sets the convolution; the inner search picks the half and the pooling."""
    return sk.Sequential([
        sk.Input(shape=(16, 1)),
        pg.oneof([sk.layers.Cropping1D((0, 8)), sk.layers.Cropping1D((8, 0))]),
        sk.layers.Conv1D(outer.width, 3, activation="relu"),
        pg.oneof([sk.layers.GlobalMaxPooling1D(), sk.layers.GlobalAveragePooling1D()]),
        sk.layers.Dense(1),
    ])


def _evaluator():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 16, 1)).astype("float32")
    y = x[:, 8:, 0].max(axis=1, keepdims=True)
    return KerasEvaluator(x[:96], y[:96], (x[96:], y[96:]), objective="val_loss",
                          training=Training(loss="mse", metrics=[], epochs=1, batch_size=32))


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["darts", "random"])
def test_inner_algorithm_swaps_between_weight_sharing_and_black_box(algorithm, tmp_path):
    inner_algorithm = {
        "darts": DARTS(epochs=1, batch_size=32, steps_per_epoch=2, loss="mse", retrain=True),
        "random": sa.random(seed=1)}[algorithm]
    inner = flows.InnerSearch(inner_space, inner_algorithm, _evaluator(), max_trials=2,
                              direction="min")
    result = flows.nested(OUTER_SPACE, sa.grid(), inner, max_trials=2, root_dir=str(tmp_path),
                          progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 2
    for outer in result.trials:
        search = result.inner(outer)
        # DARTS derives one architecture per outer trial (retrained); random tries two.
        assert len(search.trials) == (1 if algorithm == "darts" else 2)
        assert all(t.parent_id == outer.id and t.status == "completed" for t in search.trials)
        assert outer.reward == search.best.reward == -search.best.metrics["val_loss"]
        model = search.best.model
        assert model.layers[2].filters == outer.decisions["width"]
        if algorithm == "darts":  # Each inner study keeps its own supernet history.
            assert len(search.architecture_history) == 1
            assert set(search.architecture_history[0]["architecture"]) == {"layers[1]",
                                                                            "layers[3]"}
        else:
            assert search.architecture_history is None
