"""The rest of the user's script: a fixed model is the Keras model; compile/fit on a space record."""

import logging

import keras as plain_keras
import numpy as np
import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import keras
from symbolic_automl.keras import layers


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 8)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def _model(units=8):
    return keras.Sequential([keras.Input((8,)), layers.Dense(units, activation="relu"),
                             layers.Dense(2)])


def _plain(units=8):
    return plain_keras.Sequential([plain_keras.Input((8,)),
                                   plain_keras.layers.Dense(units, activation="relu"),
                                   plain_keras.layers.Dense(2)])


def test_a_fixed_model_is_the_keras_model_it_builds(data, tmp_path):
    x, y = data
    model = _model()
    assert model.count_params() == _plain().count_params() == 8 * 8 + 8 + 8 * 2 + 2
    lines = []
    model.summary(print_fn=lines.append)
    assert any("Total params: 90" in line for line in lines)
    assert model.keras_model is model.keras_model  # built once
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))  # trained
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert 0.0 <= accuracy <= 1.0
    predictions = model.predict(x, verbose=0)
    assert predictions.shape == (48, 2)
    np.testing.assert_allclose(model(x), predictions, rtol=1e-5, atol=1e-6)
    assert [type(l).__name__ for l in model.keras_model.layers] == ["Dense", "Dense"]
    assert len(model.weights) == 4
    path = str(tmp_path / "model.keras")
    model.save(path)
    np.testing.assert_allclose(plain_keras.saving.load_model(path).predict(x, verbose=0),
                               predictions, rtol=1e-5, atol=1e-6)
    json_path = model.save(str(tmp_path / "model.json"))  # other paths: symbolic JSON
    assert pg.eq(sa.export.load(json_path), model)


def test_a_functional_model_answers_keras_layers_and_rebind_rebuilds():
    x = keras.Input((8,))
    model = keras.Model(x, layers.Dense(3)(layers.Dense(4)(x)))
    first = model.keras_model
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Dense", "Dense"]
    assert model.count_params() == 8 * 4 + 4 + 4 * 3 + 3
    model.rebind({"nodes[1].layer.units": 6})
    assert model.keras_model is not first
    assert model.count_params() == 8 * 6 + 6 + 6 * 3 + 3


def _space():
    return keras.Sequential([keras.Input((8,)), layers.Dense(pg.oneof([4, 8]), activation="relu"),
                             layers.Dense(2)])


def test_a_space_names_its_hyper_values_instead_of_acting(data):
    x, _ = data
    space = _space()
    lines = []
    space.summary(print_fn=lines.append)
    assert "1 hyper-value(s) left" in lines[0] and "layers[1].units" in lines[0]
    for call in (lambda: space.predict(x), lambda: space.evaluate(x), space.count_params,
                 lambda: space.save("m.keras"), lambda: space.get_weights()):
        with pytest.raises(sa.SearchSpaceError, match=r"hyper-values at \['layers\[1\].units'\]"):
            call()
    assert not hasattr(space, "weights")
    with pytest.raises(sa.SearchSpaceError, match="call model.compile"):
        space.fit(x, x[:, 0])


def test_compile_and_fit_on_a_space_record_the_recipe_search_uses(data, caplog):
    x, y = data
    space = _space()
    space.compile(optimizer=keras.optimizers.Adam(pg.floatv(1e-3, 1e-1, scale="log")),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    stop = plain_keras.callbacks.EarlyStopping(monitor="val_loss", patience=5)
    with caplog.at_level(logging.WARNING):
        history = space.fit(x, y, epochs=pg.oneof([1, 2]), batch_size=16,
                            validation_data=(x[:16], y[:16]), callbacks=[stop])
    with pytest.raises(sa.SearchSpaceError, match="fit\\(\\) trained nothing.*sa.search"):
        _ = history.history["val_accuracy"]
    assert "fit() trained nothing" in caplog.text and "sa.search(model" in caplog.text
    evaluator = space.recorded_evaluator()
    assert evaluator.objective == "val_accuracy" and evaluator.callbacks == [stop]
    result = sa.search(space, pg.geno.Random(seed=3), max_trials=2, progress=False)
    # Model, learning rate and epochs: one genotype.
    assert len(result.trials[0].dna.to_numbers()) == 3
    for trial in result.trials:
        assert trial.status == "completed", trial.error
        units, learning_rate, epochs_index = trial.dna.to_numbers()
        recipe = trial.model.training
        assert recipe.optimizer.learning_rate == pytest.approx(learning_rate)
        assert trial.model.model.layers[1].units == [4, 8][units]
        assert trial.metrics["epochs"] == [1, 2][epochs_index]
        assert trial.reward == trial.metrics["val_accuracy"]


def test_a_recipe_without_metrics_minimizes_the_validation_loss(data, caplog):
    x, y = data
    space = _space()
    space.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with caplog.at_level(logging.WARNING):
        space.fit(x, y, epochs=1, validation_split=0.25)
    assert "minimizes 'val_loss'" in caplog.text
    result = sa.search(space, pg.geno.Sweeping(), max_trials=2, progress=False)
    assert [t.status for t in result.trials] == ["completed", "completed"]
    assert all(t.reward == -t.metrics["val_loss"] for t in result.trials)


def test_search_without_evaluator_or_recipe_is_a_clear_error():
    with pytest.raises(sa.SearchSpaceError, match="compile.*fit"):
        sa.search(_space(), pg.geno.Random(seed=1), max_trials=1)
    with pytest.raises(TypeError, match="pass max_trials=3 by keyword"):
        sa.search(_space(), pg.geno.Random(seed=1), 3)
    with pytest.raises(TypeError, match="search needs evaluator="):
        sa.search(pg.Dict(x=pg.oneof([1, 2])), pg.geno.Random(seed=1), max_trials=1)
    space = _space()
    space.compile(optimizer="adam", loss="mse")
    with pytest.raises(sa.SearchSpaceError, match="validation_data"):
        space.fit(np.ones((4, 8)), np.ones((4, 2)))
