"""Shared test settings (quiet TensorFlow, the TF backend) and shared fixtures."""

import importlib.util
import os
import pathlib
import types

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="session")
def planted():
    """A small space and the DNA planted in the weight-sharing tests' teacher.

    The space reads one half of a 16-step sequence, convolves, then pools. The
    planted DNA reads the second half, then max pooling: student choices that read
    the other half, or average, cannot fit the teacher's outputs.
    `planted.space()` builds a fresh space; `planted.dna` is the planted DNA.
    """
    import pyglove as pg  # pylint: disable=g-import-not-at-top
    from symbolic_automl import keras as sk  # pylint: disable=g-import-not-at-top

    def space():
        return sk.Sequential([
            sk.Input(shape=(16, 1)),
            pg.oneof([sk.layers.Cropping1D((0, 8)), sk.layers.Cropping1D((8, 0))]),
            sk.layers.Conv1D(8, 3, activation="relu"),
            pg.oneof([sk.layers.GlobalMaxPooling1D(), sk.layers.GlobalAveragePooling1D()]),
            sk.layers.Dense(1),
        ])

    return types.SimpleNamespace(space=space, dna=pg.DNA([1, 0]))


class _CreatesFile:
    """Unpickling this calls `open(path, "w")`: it creates the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def hostile_pickle(tmp_path):
    """A hostile file's planted pickle, and the marker file loading it would create.

    `hostile_pickle.json()` is PyGlove's JSON for an opaque (pickled) value whose
    unpickling creates `hostile_pickle.marker`; a load path that runs code shows
    as the marker existing.
    """
    import base64  # pylint: disable=g-import-not-at-top
    import pickle  # pylint: disable=g-import-not-at-top

    marker = tmp_path / "marker"
    payload = base64.encodebytes(pickle.dumps(_CreatesFile(str(marker)))).decode()
    opaque = {"_type": "pyglove.core.utils.json_conversion._OpaqueObject", "value": payload}
    return types.SimpleNamespace(marker=marker, json=lambda: dict(opaque))


@pytest.fixture(scope="session")
def residual_space():
    """Builds a residual network whose block width is one hyper-value used three times.

    `residual_space(widths, stem, num_classes, input_shape)`: two blocks, each with its
    own `w = pg.oneof(widths)` given to a 1x1 shortcut and two 3x3 convolutions, then
    `layers.Add()`. A width that became three decisions would break the `Add`.
    """
    import pyglove as pg  # pylint: disable=g-import-not-at-top
    from symbolic_automl import keras as sk  # pylint: disable=g-import-not-at-top

    def build(widths=(8, 16), stem=8, num_classes=10, input_shape=(8, 8, 1)):
        inputs = sk.Input(shape=input_shape)
        x = sk.layers.Conv2D(stem, 3, padding="same", activation="relu")(inputs)
        for unused_block in range(2):
            width = pg.oneof(list(widths))
            shortcut = sk.layers.Conv2D(width, 1, padding="same")(x)
            y = sk.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
            y = sk.layers.Conv2D(width, 3, padding="same")(y)
            x = sk.layers.Add()([shortcut, y])
        x = sk.layers.GlobalAveragePooling2D()(x)
        return sk.Model(inputs, sk.layers.Dense(num_classes, activation="softmax")(x))

    return build


@pytest.fixture(scope="session")
def dna_only():
    """`dna_only(algorithm)`: the algorithm seen through its `pg.DNA` methods alone.

    Hides an `Algorithm`'s assignment methods, so that the search loop takes
    the path of any `pg.DNAGenerator` with the same (deterministic) proposals.
    """
    import pyglove as pg  # pylint: disable=g-import-not-at-top

    class DNAOnly(pg.DNAGenerator):
        inner: pg.typing.Any()

        def _setup(self):
            self.inner.setup(self.dna_spec)

        def _propose(self):
            return self.inner.propose()

        def _feedback(self, dna, reward):
            self.inner.feedback(dna, reward)

    return lambda algorithm: DNAOnly(inner=algorithm)


@pytest.fixture(scope="session")
def load_demo():
    """`load_demo("quickstart")`: the module `demos/quickstart.py`, freshly executed."""
    demos = pathlib.Path(__file__).resolve().parents[1] / "demos"

    def load(name):
        spec = importlib.util.spec_from_file_location(f"{name}_demo", demos / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
