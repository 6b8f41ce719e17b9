"""The Keras surface real functional code uses: helpers, keras.ops, arithmetic, pass-through."""

import json
import os
import subprocess
import sys
import textwrap

import keras as plain_keras
import numpy as np
import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import keras
from symbolic_automl.keras import layers, ops


def _same_function(built, original, x):
    """Same weights in, same outputs out: the graphs compute the same function."""
    original.set_weights(built.get_weights())
    np.testing.assert_allclose(np.asarray(built(x)), np.asarray(original(x)), rtol=1e-5,
                               atol=1e-6)


X16 = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")


def _helpers_graph(lib, width):
    """The same residual graph with the lowercase helpers, in either library."""
    x = lib.Input(shape=(16,))
    a = lib.layers.Dense(16, activation="relu")(x)
    b = lib.layers.Dense(16)(x)
    h = lib.layers.add([x, a])
    h = lib.layers.concatenate([h, lib.layers.multiply([a, b]), lib.layers.subtract([a, b])])
    m = lib.layers.average([lib.layers.maximum([a, b]), lib.layers.minimum([a, b])])
    d = lib.layers.dot([a, b], axes=1)
    h = lib.layers.Dense(width)(lib.layers.concatenate([h, m, d], axis=-1))
    return x, h


def test_functional_helpers_build_what_keras_builds(layer_configs):
    x, h = _helpers_graph(keras, pg.oneof([4, 8]))
    space = keras.Model(x, h)
    assert len(pg.dna_spec(space).decision_points) == 1
    built = pg.materialize(space, pg.DNA(1)).to_keras()
    original = plain_keras.Model(*_helpers_graph(plain_keras, 8))
    assert layer_configs(built) == layer_configs(original)
    assert built.count_params() == original.count_params()
    _same_function(built, original, X16)
    restored = sa.export.loads(sa.export.dumps(space))
    assert pg.eq(restored, space)


def _ops_graph(lib, k):
    x = lib.Input(shape=(16,))
    h = lib.layers.Dense(16)(x)
    y = lib.ops.relu(h) + x * 2.0 - 1.0
    y = -y / 3.0 + abs(h) ** 2
    seq = lib.ops.reshape(y, (-1, 4, 4))
    seq = lib.ops.transpose(seq, (0, 2, 1))
    att = lib.ops.softmax(seq @ lib.ops.transpose(seq, (0, 2, 1)), axis=-1)
    pooled = lib.ops.mean(lib.ops.matmul(att, seq), axis=1)          # (None, 4)
    first = y[:, 0:1] * h[:, -1:]                                     # slices
    last = seq[..., 0]                                                # Ellipsis
    z = lib.ops.concatenate([pooled, first, last, lib.activations.gelu(h)], axis=-1)
    return x, lib.layers.Dense(k)(z)


def test_ops_and_tensor_arithmetic_are_recorded_by_name_and_round_trip():
    x, y = _ops_graph(keras, pg.oneof([3, 5]))
    space = keras.Model(x, y)
    ops_used = {n.layer.name for n in space.nodes if isinstance(n.layer, keras.Op)}
    assert {"relu", "add", "multiply", "subtract", "negative", "divide", "absolute", "power",
            "reshape", "transpose", "softmax", "matmul", "mean", "get_item",
            "concatenate"} <= ops_used
    assert any(n.layer.module == "activations" and n.layer.name == "gelu" for n in space.nodes
               if isinstance(n.layer, keras.Op))
    text = sa.export.dumps(space)
    tags = {v for v in _json_values(json.loads(text), "_type")}
    assert not any(t in ("function", "method", "type") for t in tags)  # names, not code
    restored = sa.export.loads(text)
    assert pg.eq(restored, space)
    built = pg.materialize(restored, pg.DNA(1)).to_keras()
    original = plain_keras.Model(*_ops_graph(plain_keras, 5))
    assert built.count_params() == original.count_params() == 16 * 16 + 16 + (4 + 1 + 4 + 16) * 5 + 5
    _same_function(built, original, X16)


def _json_values(tree, key):
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                yield v
            yield from _json_values(v, key)
    elif isinstance(tree, list):
        for v in tree:
            yield from _json_values(v, key)


def test_an_op_is_resolved_by_name_from_keras_ops_and_unknown_names_are_refused():
    x = keras.Input(shape=(4,))
    text = sa.export.dumps(keras.Model(x, ops.relu(x)))
    assert '"relu"' in text
    hostile = sa.export.loads(text.replace('"relu"', '"__builtins__.exec"'))
    with pytest.raises(ValueError, match="keras.ops has no public function '__builtins__.exec'"):
        hostile.to_keras()
    with pytest.raises(ValueError, match="is not a function"):
        sa.export.loads(text.replace('"relu"', '"nn"')).to_keras()
    with pytest.raises(AttributeError):
        ops.no_such_op(x)
    # On real values the ops are Keras's own.
    np.testing.assert_allclose(np.asarray(ops.relu(np.array([-1.0, 2.0]))), [0.0, 2.0])
    np.testing.assert_allclose(np.asarray(keras.ops.image.resize(np.ones((1, 2, 2, 1)), (4, 4))),
                               np.ones((1, 4, 4, 1)))


def test_inline_choice_among_layers_is_one_searchable_node():
    x = keras.Input(shape=(8, 8, 4))
    choice = pg.oneof([keras.layers.Conv2D(4, 3, padding="same"),
                       keras.layers.MaxPooling2D(3, 1, padding="same")])
    h = choice(choice(x))  # the same choice twice: one decision, one (shared) layer
    space = keras.Model(x, keras.layers.Flatten()(h))
    assert len(pg.dna_spec(space).decision_points) == 1
    conv = pg.materialize(space, pg.DNA(0)).to_keras()
    assert [type(l).__name__ for l in conv.layers] == ["InputLayer", "Conv2D", "Flatten"]
    assert conv.count_params() == 3 * 3 * 4 * 4 + 4  # shared weights, counted once
    pooled = pg.materialize(space, pg.DNA(1)).to_keras()
    assert [type(l).__name__ for l in pooled.layers] == ["InputLayer", "MaxPooling2D", "Flatten"]
    assert pg.eq(sa.export.loads(sa.export.dumps(space)), space)


def test_inline_choice_in_a_residual_block_matches_the_plain_model(layer_configs):
    def block(lib, op):
        x = lib.Input(shape=(8, 8, 4))
        return x, lib.layers.add([x, op(x)])

    candidates = [keras.layers.Conv2D(4, 3, padding="same"),
                  keras.layers.MaxPooling2D(3, 1, padding="same")]
    x, y = block(keras, pg.oneof(candidates))
    space = keras.Model(x, y)
    built = pg.materialize(space, pg.DNA(0)).to_keras()
    original = plain_keras.Model(*block(plain_keras, plain_keras.layers.Conv2D(4, 3, padding="same")))
    assert layer_configs(built) == layer_configs(original)
    _same_function(built, original, np.ones((1, 8, 8, 4), "float32"))


def test_input_and_input_layer_as_keras_allows():
    for first in (layers.Input(shape=(6,)), layers.InputLayer(shape=(6,)), keras.Input((6,))):
        model = keras.Sequential([first, layers.Dense(pg.oneof([2, 3]))])
        built = pg.materialize(model, pg.DNA(1)).to_keras()
        assert built.count_params() == 6 * 3 + 3
        assert built(np.ones((2, 6), "float32")).shape == (2, 3)


def test_symbolic_tensor_shape_is_known_once_fixed():
    x = keras.Input(shape=(8, 8, 3))
    assert x.shape == plain_keras.Input(shape=(8, 8, 3)).shape == (None, 8, 8, 3)
    assert x.sym_init_args["shape"] == (8, 8, 3)  # the symbolic argument, unchanged
    h = layers.Conv2D(16, 3)(x)
    assert h.shape == (None, 6, 6, 16)
    if h.shape[-1] != 16:  # the residual-example idiom
        raise AssertionError("shape read wrongly")
    searched = layers.Conv2D(pg.oneof([8, 16]), 3)(x)
    with pytest.raises(sa.SearchSpaceError, match="depends on hyper-values.*filters"):
        _ = searched.shape
    with pytest.raises(TypeError, match="no truth value"):
        bool(h > 0)


def test_the_rest_of_keras_passes_through():
    assert keras.utils is plain_keras.utils
    assert keras.callbacks.EarlyStopping is plain_keras.callbacks.EarlyStopping
    assert keras.datasets is plain_keras.datasets
    assert keras.backend is plain_keras.backend
    assert keras.random is plain_keras.random
    assert keras.applications is plain_keras.applications
    assert keras.saving is plain_keras.saving
    assert keras.mixed_precision is plain_keras.mixed_precision
    assert keras.layers.serialize is plain_keras.layers.serialize
    assert keras.optimizers.get is plain_keras.optimizers.get
    assert keras.models.load_model is plain_keras.models.load_model
    assert keras.models.Sequential is keras.Sequential
    np.testing.assert_allclose(np.asarray(keras.activations.relu(np.array([-2.0, 3.0]))),
                               [0.0, 3.0])
    schedule = keras.optimizers.schedules.ExponentialDecay(pg.floatv(1e-3, 1e-1), 100, 0.9)
    optimizer = pg.materialize(keras.optimizers.Adam(schedule), pg.DNA(0.01)).to_keras()
    decay = optimizer._learning_rate  # pylint: disable=protected-access
    assert isinstance(decay, plain_keras.optimizers.schedules.ExponentialDecay)
    assert decay.initial_learning_rate == pytest.approx(0.01)
    with pytest.raises(AttributeError, match="Neither the symbolic mirror nor keras has 'nope'"):
        _ = keras.nope
    with pytest.raises(AttributeError, match="Neither the symbolic mirror nor keras.layers has"):
        _ = keras.layers.nope


@pytest.mark.slow
def test_ops_recording_under_jax(tmp_path):
    script = textwrap.dedent("""
        import json, numpy as np, pyglove as pg, keras as plain
        assert plain.backend.backend() == "jax"
        import symbolic_automl as sa
        from symbolic_automl import keras
        def graph(lib, k):
            x = lib.Input(shape=(8,))
            h = lib.layers.Dense(8)(x)
            y = lib.ops.concatenate([lib.ops.relu(h) + x * 2.0, -h[:, :3]], axis=-1)
            return x, lib.layers.Dense(k)(lib.layers.add([y, y]))
        space = keras.Model(*graph(keras, pg.oneof([2, 4])))
        model = pg.materialize(sa.export.loads(sa.export.dumps(space)), pg.DNA(1))
        built = model.to_keras()
        original = plain.Model(*graph(plain, 4))
        original.set_weights(built.get_weights())
        x = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
        np.testing.assert_allclose(np.asarray(built(x)), np.asarray(original(x)), rtol=1e-5)
        print("OK", type(np.asarray(model.predict(x, verbose=0))).__name__)
        from symbolic_automl.keras import layers, ops
        class Block(layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.dense = layers.Dense(units)
            def call(self, x):
                return ops.relu(self.dense(x)) + x
        inputs = keras.Input(shape=(8,))
        space = keras.Model(inputs, Block(pg.oneof([4, 8]))(inputs))
        block = pg.materialize(space, pg.DNA(1)).to_keras().layers[1]
        assert type(block) is Block and type(block.dense) is plain.layers.Dense
        print("BLOCK", block(x).shape)
    """)
    env = dict(os.environ, KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK ndarray" in done.stdout and "BLOCK (2, 8)" in done.stdout
