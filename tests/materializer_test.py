"""The compiled materializer gives exactly what `pg.materialize` gives."""

import random

import pyglove as pg
import pytest

from symbolic_automl import keras
from symbolic_automl import materializer


def _spaces():
    flat = pg.Dict({f"x{i}": pg.oneof(list(range(5))) for i in range(6)})
    flat["lr"] = pg.floatv(1e-4, 1e-1, scale="log")
    cnn = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(pg.oneof([16, 32]), pg.oneof([(3, 3), (5, 5)]),
                            activation=pg.oneof(["relu", "swish"])),
        pg.oneof([keras.layers.MaxPooling2D(), keras.layers.AveragePooling2D(2)]),
        keras.layers.Dense(pg.oneof([4, 8])),
    ])
    return [flat, cnn]


@pytest.mark.parametrize("space", _spaces())
def test_same_as_pg_materialize(space):
    fast = materializer.compile(space)
    assert fast is not None
    spec = pg.dna_spec(space)
    rng = random.Random(0)
    for _ in range(10):
        dna = pg.random_dna(spec, rng)
        assert pg.eq(fast(dna.to_numbers()), pg.materialize(space, dna, use_literal_values=False))


@pytest.mark.parametrize("space", [
    pg.Dict(a=pg.oneof([pg.Dict(b=pg.oneof([1, 2])), 3])),  # conditional
    pg.Dict(a=pg.manyof(2, [1, 2, 3])),
])
def test_other_shapes_fall_back(space):
    assert materializer.compile(space) is None
