"""Shared test settings (quiet TensorFlow, the TF backend) and shared fixtures."""

import os
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
