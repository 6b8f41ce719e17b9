"""Real Keras code, annotated: the corpus in tests/keras/corpus/.

Each model is written twice, the way public Keras examples write it
(`<name>_original.py`, plain Keras) and annotated for search
(`<name>_annotated.py`: the import changed, some literals turned into
hyper-values whose first candidate is the original literal). For each:

- with every hyper-value fixed to its first candidate, the annotated code
  builds exactly the original model: layer classes and configs, wiring,
  parameter count, and the same outputs given the same weights;
- a 2-trial search completes; the best trial exports to JSON and `.keras`,
  and both reload in a fresh Python process into the same architecture.
"""

import difflib
import importlib
import json
import os
import subprocess
import sys

import keras as plain_keras
import numpy as np
import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import algorithms

CORPUS = os.path.join(os.path.dirname(__file__), "corpus")
sys.path.insert(0, CORPUS)

import corpus_data  # pylint: disable=g-import-not-at-top,wrong-import-position

# name -> (data, loss, sample input for output comparison)
MODELS = {
    "cnn": (lambda: corpus_data.digits_images(16), "sparse_categorical_crossentropy"),
    "resnet": (lambda: corpus_data.digits_images(16), "sparse_categorical_crossentropy"),
    "multi_input": (corpus_data.tickets, "sparse_categorical_crossentropy"),
    "transformer": (corpus_data.tokens, "sparse_categorical_crossentropy"),
    "rnn": (corpus_data.tokens, "binary_crossentropy"),
}


def _module(name, kind):
    return importlib.import_module(f"{name}_{kind}")


def changed_lines(name) -> int:
    """Lines of the annotated file that differ from the original's."""
    with open(os.path.join(CORPUS, f"{name}_original.py")) as f:
        original = f.read().splitlines()
    with open(os.path.join(CORPUS, f"{name}_annotated.py")) as f:
        annotated = f.read().splitlines()
    return sum(1 for line in difflib.ndiff(original, annotated) if line.startswith("+ "))


def architecture(model) -> dict:
    """The model's Keras config with generated names replaced by layer positions.

    Two builds of the same code differ only in auto-generated names (`dense_7`);
    everything else (classes, arguments, wiring) must be equal.
    """
    positions = {layer.name: f"<layer {i}>" for i, layer in enumerate(model.layers)}

    def own_class_reference(key, value):
        # A custom layer is defined in `<name>_original` or `<name>_annotated`: the
        # two files differ in the module that defines the class, and the mirror
        # registers its classes for `.keras` loading under `module>Class`.
        if key == "registered_name":
            return True
        return key == "module" and isinstance(value, str) and value.endswith(
            ("_original", "_annotated"))

    def normalize(value):
        if isinstance(value, dict):
            return {k: normalize(v) for k, v in value.items()
                    if k != "name" and not own_class_reference(k, v)}
        if isinstance(value, (list, tuple)):
            return [normalize(v) for v in value]
        if isinstance(value, str) and value in positions:
            return positions[value]
        return value

    config = model.get_config()
    config.pop("name", None)
    return normalize(config)


def _fixed_to_first_candidates(space_value):
    space = sa.Space(space_value)
    return space.materialize(space.dna_spec.first_dna())


def _inputs_like(x):
    if isinstance(x, dict):
        return {k: v[:4] for k, v in x.items()}
    return x[:4]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_annotated_is_a_small_diff(name):
    assert 1 <= changed_lines(name) <= 7, changed_lines(name)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fixed_to_original_literals_builds_the_original(name):
    original = _module(name, "original").build()
    space_value = _module(name, "annotated").build()
    assert sa.Space(space_value).dna_spec.elements, "the annotated model has no decisions"
    fixed = _fixed_to_first_candidates(space_value)
    built = fixed.to_keras()

    assert built.count_params() == original.count_params()
    assert [type(l).__name__ for l in built.layers] == [type(l).__name__ for l in original.layers]
    assert architecture(built) == architecture(original)
    # Same weights in, same outputs out: the wiring and every argument agree.
    built.set_weights(original.get_weights())
    (x, _), _ = MODELS[name][0]()
    sample = _inputs_like(x)
    np.testing.assert_allclose(np.asarray(built.predict(sample, verbose=0)),
                               np.asarray(original.predict(sample, verbose=0)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_other_candidates_change_the_model(name):
    """A decision is real: the last candidates build a different architecture."""
    space = sa.Space(_module(name, "annotated").build())
    first = space.materialize(space.dna_spec.first_dna()).to_keras()
    last_choices = [len(point.candidates) - 1 for point in space.dna_spec.decision_points]
    last = space.materialize(pg.DNA.from_numbers(last_choices, space.dna_spec)).to_keras()
    assert architecture(first) != architecture(last)


# 20-40 s each on 2 cores: the CNN runs by default, the other models with `-m slow`.
@pytest.mark.parametrize("name", [
    name if name == "cnn" else pytest.param(name, marks=pytest.mark.slow)
    for name in sorted(MODELS)])
def test_search_exports_and_reloads_in_a_fresh_process(name, tmp_path):
    data, loss = MODELS[name]
    (x, y), validation = data()
    evaluator = sa.KerasEvaluator(
        x, y, validation_data=validation, objective="val_accuracy",
        training=sa.Training(epochs=1, batch_size=32, loss=loss))
    root = str(tmp_path / "run")
    result = sa.search(_module(name, "annotated").build(),
                       algorithm=algorithms.random(seed=1), evaluator=evaluator,
                       max_trials=2, root_dir=root, progress=False)
    assert [t.status for t in result.trials] == ["completed", "completed"], [
        t.error for t in result.trials]

    json_path = sa.export.save(result.best, str(tmp_path / "best.json"))
    keras_path = sa.export.save_keras(result, str(tmp_path / "best.keras"))
    with open(json_path) as f:
        assert "pickle" not in f.read()

    script = f"""
import json, sys
sys.path.insert(0, {CORPUS!r})
import {name}_annotated  # defines the custom layers, as the user's module would
import keras
import symbolic_automl as sa
sys.path.insert(0, {os.path.dirname(__file__)!r})
from corpus_test import architecture
model = sa.export.load({json_path!r})
rebuilt = model.to_keras()
trained = keras.saving.load_model({keras_path!r})
print(json.dumps({{"same": architecture(rebuilt) == architecture(trained),
                  "params": trained.count_params()}}))
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["same"], "the exported JSON and .keras models differ in architecture"
    assert report["params"] == result.best.metrics["params"]
