"""The compiled materializer gives exactly what `pg.materialize` gives."""

import random

import pyglove as pg
import pytest

from symbolic_automl import export
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


def _nested_hyper_dict():
    return pg.Dict(optimizer=pg.Dict(lr=pg.floatv(1e-4, 1e-1, scale="log"),
                                     name=pg.oneof(["adam", "sgd"])),
                   layers=pg.List([pg.oneof([8, 16]), 4]), dropout=pg.oneof([0.0, 0.5]),
                   flag=pg.oneof([True, None]))


@pytest.mark.parametrize("space", _spaces() + [_nested_hyper_dict()])
def test_the_json_it_gives_is_the_model_record(space):
    fast = materializer.compile(space)
    spec = pg.dna_spec(space)
    rng = random.Random(1)
    for _ in range(10):
        numbers = pg.random_dna(spec, rng).to_numbers()
        model, text = fast.with_json(numbers)
        assert text == export.dumps(model)
        assert pg.eq(model, fast(numbers))


def test_plain_dicts_it_builds_behave_as_pyglove_builds_them():
    space = _nested_hyper_dict()
    fast = materializer.compile(space)
    dna = pg.DNA([0.01, 1, 0, 1, 0])
    model, reference = fast(dna.to_numbers()), pg.materialize(space, dna, use_literal_values=False)
    assert pg.eq(model, reference) and model.sym_hash() == reference.sym_hash()
    assert model.optimizer.sym_parent is model and str(model.optimizer.sym_path) == "optimizer"
    assert str(model.layers.sym_path) == "layers" and model.sym_parent is None
    assert model.sym_nondefault() == reference.sym_nondefault()
    # Placed in another tree, changed afterwards: paths and notifications as usual.
    seen = []
    holder = pg.Dict(m=model, onchange_callback=seen.extend)
    model.rebind({"dropout": 0.25, "optimizer.name": "rmsprop"})
    assert holder.m.dropout == 0.25 and holder.m.optimizer.name == "rmsprop"
    assert sorted(str(k) for k in seen) == ["m.dropout", "m.optimizer.name"]
    assert str(model.optimizer.sym_path) == "m.optimizer"
    assert export.loads(export.dumps(model)) == model


def test_a_candidate_that_refers_to_code_gives_no_record():
    space = pg.Dict(act=pg.oneof([len, "relu"]), units=pg.oneof([1, 2]))
    fast = materializer.compile(space)
    model, text = fast.with_json([0, 1])
    assert model.act is len and text is None  # `export.dumps` refuses a function.
    model, text = fast.with_json([1, 1])
    assert text == export.dumps(model)
