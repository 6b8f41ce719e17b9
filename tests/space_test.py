"""`Space`: symbolic values and define-by-run functions."""

import keras as plain_keras
import pyglove as pg
import pytest

import symbolic_automl as sa


def _build_mlp():
    units = pg.oneof([8, 16], name="units")
    activation = pg.oneof(["relu", "tanh"], name="activation")
    return plain_keras.Sequential([
        plain_keras.Input(shape=(4,)),
        plain_keras.layers.Dense(units, activation=activation),
        plain_keras.layers.Dense(2)])


def test_define_by_run_function_is_a_space():
    space = sa.Space(_build_mlp)
    assert space.is_define_by_run
    assert len(space.dna_spec.decision_points) == 2
    model = space.materialize(pg.DNA([1, 1]))
    assert model.layers[0].units == 16 and model.layers[0].get_config()["activation"] == "tanh"
    assert space.decisions(pg.DNA([1, 0])) == {"units": 16, "activation": "relu"}


def test_define_by_run_needs_named_hyper_values():
    def unnamed():
        return pg.oneof([1, 2])
    with pytest.raises(sa.SearchSpaceError, match="name"):
        sa.Space(unnamed)


@pytest.mark.parametrize("value, match", [
    (42, "symbolic value"),
    (pg.Dict(x=1), "no hyper-values"),
])
def test_invalid_spaces_are_refused(value, match):
    with pytest.raises(sa.SearchSpaceError, match=match):
        sa.Space(value)


def test_dna_that_does_not_fit_is_refused():
    space = sa.Space(pg.Dict(a=pg.oneof([1, 2]), b=pg.oneof([3, 4])))
    with pytest.raises(sa.DNAMismatchError, match="does not fit"):
        space.materialize(pg.DNA([5, 0]))
    with pytest.raises(sa.DNAMismatchError, match="Expected a pg.DNA"):
        space.check_dna([0, 1])
    assert space.materialize(pg.DNA([1, 0])) == pg.Dict(a=2, b=3)


def test_fingerprint_changes_with_the_space():
    a = sa.Space(pg.Dict(a=pg.oneof([1, 2])))
    assert a.fingerprint() == sa.Space(pg.Dict(a=pg.oneof([1, 2]))).fingerprint()
    assert a.fingerprint() != sa.Space(pg.Dict(a=pg.oneof([1, 3]))).fingerprint()


def test_plain_keras_model_is_refused_with_guidance():
    model = plain_keras.Sequential([plain_keras.Input(shape=(2,)), plain_keras.layers.Dense(1)])
    with pytest.raises(sa.SearchSpaceError, match="plain Keras object.*symbolic_automl import keras"):
        sa.Space(model)


def test_define_by_run_decisions_describe_plain_keras_layers():
    def build():
        dense = pg.oneof([plain_keras.layers.Dense(16, activation="relu"),
                          plain_keras.layers.Dense(32)], name="dense")
        pool = pg.oneof([plain_keras.layers.GlobalMaxPooling1D(),
                         plain_keras.layers.GlobalAveragePooling1D()], name="pool")
        extras = pg.manyof(2, [plain_keras.layers.Dropout(0.1), plain_keras.layers.ReLU(),
                               plain_keras.layers.Dropout(0.5)], name="extras")
        act = pg.oneof(["relu", "tanh"], name="act")
        return dense, pool, extras, act

    space = sa.Space(build)
    first = space.decisions(pg.DNA([0, 1, [0, 2], 1]))
    assert first == {"dense": "Dense(units=16, activation='relu')",
                     "pool": "GlobalAveragePooling1D()",
                     "extras": ["Dropout(rate=0.1)", "Dropout(rate=0.5)"],
                     "act": "tanh"}
    # The two Dense candidates differ in the record, not only by generated names.
    assert space.decisions(pg.DNA([1, 0, [1, 2], 0]))["dense"] == "Dense(units=32)"
