"""The symbolic Keras mirror builds exactly what the plain Keras code builds."""

import inspect

import keras as plain_keras
import numpy as np
import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import keras


def _annotated_cnn():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(pg.oneof([16, 32, 64]), pg.oneof([3, 5]),
                            activation=pg.oneof(["relu", "swish"])),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(pg.floatv(0.1, 0.5)),
        keras.layers.Dense(10, activation="softmax"),
    ])


def _original_cnn(filters, kernel, activation, dropout):
    return plain_keras.Sequential([
        plain_keras.Input(shape=(28, 28, 1)),
        plain_keras.layers.Conv2D(filters, kernel, activation=activation),
        plain_keras.layers.MaxPooling2D(),
        plain_keras.layers.Conv2D(64, 3, activation="relu"),
        plain_keras.layers.Flatten(),
        plain_keras.layers.Dropout(dropout),
        plain_keras.layers.Dense(10, activation="softmax"),
    ])


@pytest.mark.parametrize("dna, values", [
    ([0, 0, 0, 0.25], (16, 3, "relu", 0.25)),
    ([2, 1, 1, 0.4], (64, 5, "swish", 0.4)),
])
def test_annotated_sequential_equals_original(dna, values, layer_configs):
    space = _annotated_cnn()
    assert len(pg.dna_spec(space).decision_points) == 4
    built = pg.materialize(space, pg.DNA(dna)).to_keras()
    original = _original_cnn(*values)
    assert built.count_params() == original.count_params()
    assert layer_configs(built) == layer_configs(original)


def test_functional_model_with_residual_and_shared_layer_equals_original(layer_configs):
    inputs = keras.Input(shape=(16,))
    shared = keras.layers.Dense(16, activation=pg.oneof(["relu", "tanh"]))
    h = shared(inputs)
    h = keras.layers.Add()([inputs, h])
    h = shared(h)  # the same layer again: shared weights
    outputs = keras.layers.Dense(pg.oneof([3, 5]))(h)
    space = keras.Model(inputs, outputs)
    built = pg.materialize(space, pg.DNA([1, 1])).to_keras()

    x = plain_keras.Input(shape=(16,))
    d = plain_keras.layers.Dense(16, activation="tanh")
    y = d(plain_keras.layers.Add()([x, d(x)]))
    original = plain_keras.Model(x, plain_keras.layers.Dense(5)(y))
    assert built.count_params() == original.count_params() == 16 * 16 + 16 + 16 * 5 + 5
    assert layer_configs(built) == layer_configs(original)
    assert built(np.ones((2, 16), "float32")).shape == (2, 5)


def test_every_keras_layer_class_is_mirrored_with_its_arguments():
    classes = {n: c for n, c in vars(plain_keras.layers).items()
               if isinstance(c, type) and issubclass(c, plain_keras.layers.Layer)}
    assert len(classes) > 100
    # `Layer` is the base for your own layers (a real Keras class), tested in custom_layer_test.
    assert issubclass(keras.layers.Layer, plain_keras.layers.Layer)
    del classes["Layer"]
    for name, cls in classes.items():
        mirrored = getattr(keras.layers, name)
        params = [p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        fields = [str(k) for k in mirrored.__schema__.fields.keys() if isinstance(k, str) or
                  isinstance(k, pg.typing.ConstStrKey)]
        assert params == fields[:len(params)], name
        assert mirrored.keras_class is cls


def test_symbolic_model_is_mutable_and_json_round_trips():
    space = _annotated_cnn()
    space.rebind({"layers[1].filters": pg.oneof([8, 16])})
    assert pg.materialize(space, pg.DNA([0, 0, 0, 0.2])).layers[1].filters == 8
    assert len(pg.query(space, where=lambda v: isinstance(v, keras.layers.Conv2D))) == 2
    model = pg.materialize(space, pg.DNA([1, 0, 0, 0.2]))
    restored = sa.export.loads(sa.export.dumps(model))
    assert pg.eq(restored, model)
    assert restored.to_keras().count_params() == model.to_keras().count_params()
    assert pg.eq(sa.export.loads(sa.export.dumps(space)), space)


def test_building_a_space_with_hyper_values_left_is_a_clear_error():
    with pytest.raises(sa.SearchSpaceError, match=r"layers\[1\].*materialize"):
        _annotated_cnn().layers[1].to_keras()


def test_user_layer_class_is_mirrored():
    class Scale(plain_keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

    SymbolicScale = keras.symbolic_layer(Scale)
    layer = pg.materialize(SymbolicScale(pg.oneof([2.0, 3.0])), pg.DNA(1)).to_keras()
    assert isinstance(layer, Scale) and layer.factor == 3.0
    with pytest.raises(TypeError, match="keras.layers.Layer subclass"):
        keras.symbolic_layer(int)


def test_optimizer_mirror_accepts_hyper_values():
    opt = keras.optimizers.Adam(learning_rate=pg.floatv(1e-4, 1e-1, scale="log"))
    built = pg.materialize(opt, pg.DNA(0.01)).to_keras()
    assert isinstance(built, plain_keras.optimizers.Adam)
    assert float(built.learning_rate) == pytest.approx(0.01)


def test_calling_a_layer_on_a_non_tensor_is_a_clear_error():
    with pytest.raises(TypeError, match="symbolic tensors"):
        keras.layers.Dense(3)(np.ones((2, 2)))
