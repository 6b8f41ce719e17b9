"""Custom layers written against the mirror: real Keras layers, searchable arguments."""

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


class Block(layers.Layer):
    """A residual MLP block, as a user writes it (mirror layers and ops inside)."""

    def __init__(self, units, rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.rate = units, rate
        self.dense = layers.Dense(units)
        self.project = layers.Dense(units)
        self.dropout = layers.Dropout(rate)

    def call(self, x, training=None):
        return self.dropout(ops.relu(self.dense(x)), training=training) + self.project(x)


class TransformerBlock(layers.Layer):
    """The block of Keras's text-classification-with-transformer example."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"),
                                     layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.dropout1(self.att(inputs, inputs))
        out1 = self.layernorm1(inputs + attn_output)
        return self.layernorm2(out1 + self.dropout2(self.ffn(out1)))


class PlainBlock(plain_keras.layers.Layer):
    """`Block` written against plain Keras: what the built model must equal."""

    def __init__(self, units, rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dense = plain_keras.layers.Dense(units)
        self.project = plain_keras.layers.Dense(units)
        self.dropout = plain_keras.layers.Dropout(rate)

    def call(self, x, training=None):
        return (self.dropout(plain_keras.ops.relu(self.dense(x)), training=training)
                + self.project(x))


class LazyBlock(layers.Layer):
    """Makes its sub-layer in `build`, which Keras may call long after construction."""

    def build(self, input_shape):
        self.dense = layers.Dense(input_shape[-1])

    def call(self, x):
        return self.dense(x)


class MLP(keras.Model):
    """A subclassed model, as in Keras's "making new models via subclassing" guide."""

    def __init__(self, units, num_classes=2, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(units, activation="relu")
        self.classifier = layers.Dense(num_classes)

    def call(self, x):
        return self.classifier(self.hidden(x))


class ScaledLoss(keras.losses.Loss):
    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * plain_keras.ops.mean(plain_keras.ops.square(y_true - y_pred), axis=-1)


X = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")


def _block_model(lib, block):
    x = lib.Input(shape=(6,))
    return lib.Model(x, lib.layers.Dense(2)(block(x)))


def test_a_custom_layer_with_a_hyper_value_is_a_searchable_spec_that_builds_the_layer():
    spec = Block(pg.oneof([4, 8]), rate=0.0)
    assert isinstance(spec, keras.LayerSpec) and spec.keras_class is Block
    space = _block_model(keras, spec)
    assert len(pg.dna_spec(space).decision_points) == 1
    built = pg.materialize(space, pg.DNA(1)).to_keras()
    block = built.layers[1]
    assert type(block) is Block and block.units == 8
    # Mirror names used in the layer's __init__ made real Keras layers.
    assert type(block.dense) is plain_keras.layers.Dense and block.dense.units == 8
    original = _block_model(plain_keras, PlainBlock(8))
    assert built.count_params() == original.count_params() == 2 * (6 * 8 + 8) + 8 * 2 + 2
    original.set_weights(built.get_weights())
    np.testing.assert_allclose(built(X), original(X), rtol=1e-5, atol=1e-6)


def test_a_custom_layer_in_sequential_and_json_round_trip():
    space = keras.Sequential([keras.Input((6,)), Block(pg.oneof([4, 8])), layers.Dense(2)])
    text = sa.export.dumps(space)
    assert f"{Block.__module__}.Block" in text
    restored = sa.export.loads(text)
    assert pg.eq(restored, space)
    built = pg.materialize(restored, pg.DNA(0)).to_keras()
    assert [type(l) for l in built.layers] == [Block, plain_keras.layers.Dense]
    assert built.count_params() == 2 * (6 * 4 + 4) + 4 * 2 + 2


def _transformer_model(lib, block, vocab=20, maxlen=5, embed=8):
    inputs = lib.Input(shape=(maxlen,))
    x = lib.layers.Embedding(vocab, embed)(inputs)
    x = block(x)
    x = lib.layers.GlobalAveragePooling1D()(x)
    return lib.Model(inputs, lib.layers.Dense(2, activation="softmax")(x))


def _built_transformer():
    space = _transformer_model(keras, TransformerBlock(8, pg.oneof([1, 2]), pg.oneof([8, 16])))
    assert len(pg.dna_spec(space).decision_points) == 2
    return pg.materialize(space, pg.DNA([1, 0])).to_keras()


TOKENS = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])


def test_a_transformer_block_builds_runs_and_saves_to_keras(tmp_path):
    built = _built_transformer()
    block = built.layers[2]
    assert type(block) is TransformerBlock
    assert type(block.ffn) is plain_keras.Sequential  # the mirror Sequential, made real
    assert block.att.num_heads == 2
    path = str(tmp_path / "transformer.keras")
    built.save(path)  # registration and get_config are automatic
    reloaded = plain_keras.saving.load_model(path)
    assert type(reloaded.layers[2]) is TransformerBlock
    np.testing.assert_allclose(reloaded.predict(TOKENS, verbose=0),
                               built.predict(TOKENS, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_saved_transformer_reloads_in_a_fresh_process(tmp_path):
    built = _built_transformer()
    path = str(tmp_path / "transformer.keras")
    built.save(path)
    expected = built.predict(TOKENS, verbose=0)
    # A fresh process that imports only the module defining the class.
    script = textwrap.dedent(f"""
        import importlib.util, sys
        import numpy as np
        spec = importlib.util.spec_from_file_location({Block.__module__!r}, {__file__!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules[{Block.__module__!r}] = module
        spec.loader.exec_module(module)
        import keras
        model = keras.saving.load_model({path!r})
        np.save({str(tmp_path / "out.npy")!r}, model.predict(module.TOKENS, verbose=0))
        print(type(model.layers[2]).__name__, model.count_params())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"TransformerBlock {built.count_params()}" in done.stdout
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5, atol=1e-6)


def test_oneof_over_custom_layer_instances_in_both_styles():
    symbolic = _block_model(keras, pg.oneof([Block(4), Block(8)]))
    assert pg.materialize(symbolic, pg.DNA(1)).to_keras().layers[1].units == 8
    assert pg.eq(sa.export.loads(sa.export.dumps(symbolic)), symbolic)

    def define_by_run():
        return _block_model(keras, pg.oneof([Block(4), Block(8)], name="block"))

    space = sa.Space(define_by_run)
    assert [d.name for d in space.dna_spec.decision_points] == ["block"]
    assert space.materialize(pg.DNA(1)).to_keras().layers[1].units == 8

    def plain_functional():
        x = plain_keras.Input(shape=(6,))
        h = pg.oneof([Block(4), Block(8)], name="block")(x)  # a fixed spec on a Keras tensor
        return plain_keras.Model(x, plain_keras.layers.Dense(2)(h))

    model = sa.Space(plain_functional).materialize(pg.DNA(0))
    assert type(model.layers[1]) is Block and model.layers[1].units == 4


def test_a_tiny_search_over_a_custom_layer_argument():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 2, 32)
    space = _block_model(keras, Block(pg.oneof([2, 4])))
    evaluator = sa.KerasEvaluator(x, y, validation_data=(x, y),
                                  training=sa.Training(epochs=1, batch_size=16,
                                                       loss=plain_keras.losses.SparseCategoricalCrossentropy(from_logits=True)))
    result = sa.search(space, pg.geno.Sweeping(), evaluator, max_trials=2, progress=False)
    assert [t.status for t in result.trials] == ["completed", "completed"]
    assert sorted(t.model.nodes[1].layer.units for t in result.trials) == [2, 4]


def test_layers_made_in_build_are_real_whenever_keras_builds():
    spec = LazyBlock()
    assert isinstance(spec, keras.LayerSpec)
    layer = spec.to_keras()
    assert type(layer) is LazyBlock
    out = layer(np.ones((2, 3), "float32"))  # built here, outside any to_keras()
    assert out.shape == (2, 3) and type(layer.dense) is plain_keras.layers.Dense


def test_custom_loss_subclass_takes_hyper_values():
    spec = ScaledLoss(pg.oneof([1.0, 3.0]))
    loss = pg.materialize(spec, pg.DNA(1)).to_keras()
    assert type(loss) is ScaledLoss and loss.scale == 3.0
    value = float(loss(np.zeros((2, 1), "float32"), np.ones((2, 1), "float32")))
    assert value == pytest.approx(3.0)


def test_symbolic_layer_returns_the_registered_stand_in():
    assert keras.symbolic_layer(Block) is type(Block(4))


def test_a_subclassed_model_is_a_space_that_searches_builds_and_saves(tmp_path):
    x = keras.Input((6,))
    assert isinstance(keras.Model(x, layers.Dense(2)(x)), keras.Model)  # still functional
    space = MLP(pg.oneof([4, 8]))
    assert isinstance(space, keras.LayerSpec) and space.keras_class is MLP
    assert pg.eq(sa.export.loads(sa.export.dumps(space)), space)
    rng = np.random.default_rng(2)
    data, labels = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 2, 32)
    space.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    space.fit(data, labels, epochs=1, batch_size=16, validation_split=0.25)
    result = sa.search(space, pg.geno.Sweeping(), max_trials=2, progress=False)
    assert [t.status for t in result.trials] == ["completed", "completed"]
    assert sorted(t.model.units for t in result.trials) == [4, 8]
    fixed = pg.materialize(space, pg.DNA(1))
    predictions = fixed.predict(data, verbose=0)
    assert type(fixed.keras_model) is MLP and predictions.shape == (32, 2)
    assert fixed.count_params() == 6 * 8 + 8 + 8 * 2 + 2
    path = str(tmp_path / "mlp.keras")
    fixed.save(path)  # Keras has no automatic config for subclassed models; we do
    np.testing.assert_allclose(plain_keras.saving.load_model(path).predict(data, verbose=0),
                               predictions, rtol=1e-5, atol=1e-6)
