"""Training settings that would fail every trial are refused when they are written."""

import numpy as np
import pyglove as pg
import pytest

import symbolic_automl as sa


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=-1), ValueError, r"Training\(epochs=\.\.\.\): expected a positive int, got -1"),
    (dict(epochs=0), ValueError, r"epochs=\.\.\.\): expected a positive int, got 0"),
    (dict(batch_size=0), ValueError, r"Training\(batch_size=\.\.\.\): expected a positive int"),
    (dict(epochs=2.5), TypeError, r"epochs=\.\.\.\): expected a positive int, got 2.5 \(a float"),
    (dict(epochs=True), TypeError, r"epochs=\.\.\.\): expected a positive int, got True"),
    (dict(batch_size=pg.oneof([32, 0])), ValueError, r"batch_size=\.\.\.\).*got 0"),
    (dict(epochs=pg.floatv(1.0, 3.0)), TypeError, r"epochs=\.\.\.\).*gives floats"),
])
def test_bad_epochs_or_batch_size_is_named_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        sa.Training(**kwargs)


def test_a_recipe_subclass_is_checked_too():
    from symbolic_automl.spaces.training import TrainingRecipe  # pylint: disable=g-import-not-at-top

    with pytest.raises(ValueError, match=r"TrainingRecipe\(epochs=\.\.\.\)"):
        TrainingRecipe(epochs=-3)


def test_good_settings_and_searched_ones_are_accepted():
    training = sa.Training(epochs=pg.oneof([1, 2]), batch_size=np.int64(16))
    assert [pg.materialize(training, pg.DNA(i)).epochs for i in (0, 1)] == [1, 2]


def test_keras_evaluator_refuses_bad_steps_per_epoch():
    x = np.zeros((8, 2), "float32")
    with pytest.raises(ValueError, match=r"KerasEvaluator\(steps_per_epoch=\.\.\.\).*got 0"):
        sa.KerasEvaluator(x, np.zeros(8), validation_split=0.25, steps_per_epoch=0)
    with pytest.raises(ValueError, match=r"Training\(epochs=\.\.\.\).*-1"):
        sa.KerasEvaluator(x, np.zeros(8), validation_split=0.25, training=sa.Training(epochs=-1))


def test_a_recorded_fit_with_bad_epochs_fails_at_fit_not_in_the_search():
    from symbolic_automl import keras  # pylint: disable=g-import-not-at-top

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(pg.oneof([2, 4]))])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((8, 2), "float32")
    with pytest.raises(ValueError, match=r"epochs=\.\.\.\): expected a positive int, got -1"):
        model.fit(x, x, validation_split=0.25, epochs=-1)
