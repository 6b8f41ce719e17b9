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
