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


# One hyper-value, one decision (issue 10, defect 1).

def _two_convs(k):
    from symbolic_automl import keras as sk
    return sk.Sequential([sk.Input((12, 12, 1)), sk.layers.Conv2D(8, k), sk.layers.Conv2D(8, k),
                          sk.layers.Flatten()])


def test_a_hyper_value_used_twice_is_one_decision():
    space = sa.Space(_two_convs(pg.oneof([3, 5])))
    assert [str(d.id) for d in space.dna_spec.decision_points] == ["layers[1].kernel_size"]
    for index, kernel in [(0, 3), (1, 5)]:
        model = space.materialize(pg.DNA(index))
        assert model.layers[1].kernel_size == model.layers[2].kernel_size == kernel
        by_assignment = space.materialize_assignment({"layers[1].kernel_size": index})
        assert by_assignment.layers[2].kernel_size == kernel
        keras_model = model.to_keras()
        assert [l.kernel_size for l in keras_model.layers[:2]] == [(kernel, kernel)] * 2


def test_a_shared_hyper_value_sets_every_place_on_the_slow_path_too():
    # A manyof makes the space non-flat: pg's decoding, not the fast materializer.
    width = pg.oneof([16, 32])
    space = sa.Space(pg.Dict(a=width, b=pg.Dict(c=width), extras=pg.manyof(2, [1, 2, 3])))
    assert space._compiled_materializer() is None
    assert len(space.dna_spec.elements) == 2
    assert space.materialize(pg.DNA([1, [0, 2]])) == pg.Dict(a=32, b=pg.Dict(c=32), extras=[1, 3])


def test_a_width_shared_in_a_residual_block_builds_every_trial(residual_space):
    space = sa.Space(residual_space(widths=(16, 32), stem=16, num_classes=2,
                                    input_shape=(8, 8, 4)))
    assert len(space.dna_spec.elements) == 2  # One width per block, not three.
    for numbers in ([0, 1], [1, 0], [1, 1]):
        keras_model = space.materialize(pg.DNA(numbers)).to_keras()
        widths = sorted({l.filters for l in keras_model.layers if hasattr(l, "filters")})
        assert widths == sorted({16} | {(16, 32)[n] for n in numbers})


def test_the_same_name_with_the_same_candidates_is_one_decision():
    space = sa.Space(pg.Dict(x=pg.oneof([1, 2], name="w"), y=pg.oneof([1, 2], name="w"),
                             z=pg.floatv(0.0, 1.0)))
    assert [d.name for d in space.dna_spec.decision_points] == ["w", None]
    assert space.materialize(pg.DNA([1, 0.5])) == pg.Dict(x=2, y=2, z=0.5)


def test_the_same_name_with_other_candidates_names_both_places():
    with pytest.raises(sa.SearchSpaceError,
                       match=r"named 'w'.*at x with candidates \[1, 2\].*at y with candidates "
                             r"\[1, 3\]"):
        sa.Space(pg.Dict(x=pg.oneof([1, 2], name="w"), y=pg.oneof([1, 3], name="w")))


def test_copies_made_on_purpose_are_independent_and_keep_their_inner_sharing():
    block = pg.Dict(a=pg.oneof([1, 2]))
    assert len(sa.Space(pg.List([block.clone(deep=True) for _ in range(3)])).dna_spec.elements) == 3
    assert len(sa.Space(pg.List([block, block, block])).dna_spec.elements) == 1
    model = _two_convs(pg.oneof([3, 5]))
    assert len(sa.Space(model.clone(deep=True)).dna_spec.elements) == 1
    two = sa.Space(pg.Dict(p=model.clone(deep=True), q=model.clone(deep=True)))
    assert len(two.dna_spec.elements) == 2


def test_define_by_run_same_name_twice_is_one_decision():
    def build():
        return pg.oneof([1, 2], name="a"), pg.oneof([1, 2], name="a")

    space = sa.Space(build)
    assert len(space.dna_spec.elements) == 1
    assert space.materialize(pg.DNA(1)) == (2, 2)


def test_define_by_run_same_name_other_candidates_names_both_calls():
    def build():
        return pg.oneof([1, 2], name="a"), pg.oneof([1, 3], name="a")

    with pytest.raises(sa.SearchSpaceError,
                       match=r"named 'a'.*at space_test.py:\d+ with candidates \[1, 2\] and at "
                             r"space_test.py:\d+ with candidates \[1, 3\]"):
        sa.Space(build)


_OUTSIDE = pg.oneof([3, 5])


def test_a_hyper_value_created_outside_a_define_by_run_function_is_named():
    def build():
        return plain_keras.layers.Dense(_OUTSIDE)

    with pytest.raises(sa.SearchSpaceError, match=r"created outside it \(_OUTSIDE: OneOf "
                                                  r"with candidates \[3, 5\]\).*inside the function"):
        sa.Space(build)

    captured = pg.floatv(0.0, 1.0)

    def closure():
        return captured

    with pytest.raises(sa.SearchSpaceError, match="created outside it"):
        sa.Space(closure)


# Searched depth in define-by-run (issue 10, defect 7).

def _deep():
    x = plain_keras.Input((4,))
    h = x
    for i in range(pg.oneof([2, 3, 4], name="blocks")):
        h = plain_keras.layers.Dense(pg.oneof([8, 16], name=f"width{i}"))(h)
    return plain_keras.Model(x, h)


def test_define_by_run_decisions_under_a_searched_depth_are_found_and_applied():
    space = sa.Space(_deep)
    assert [d.name for d in space.dna_spec.decision_points] == [
        "blocks", "width0", "width1", "width2", "width3"]
    deepest = space.materialize(pg.DNA([2, 1, 0, 1, 0]))
    assert [l.units for l in deepest.layers[1:]] == [16, 8, 16, 8]
    shallow = space.materialize(pg.DNA([0, 0, 1, 1, 1]))  # width2/3 are not reached.
    assert [l.units for l in shallow.layers[1:]] == [8, 16]
    fixed = sa.Space(space.fix({"blocks": 3}))
    assert [d.name for d in fixed.dna_spec.decision_points] == ["width0", "width1", "width2"]
    assert [l.units for l in fixed.materialize(pg.DNA([1, 1, 0])).layers[1:]] == [16, 16, 8]


def test_too_many_probes_for_conditional_decisions_is_refused_with_advice(monkeypatch):
    from symbolic_automl import space as space_lib
    monkeypatch.setattr(space_lib, "MAX_PROBES", 2)
    with pytest.raises(sa.SearchSpaceError, match="Declare the decisions up front"):
        sa.Space(_deep)


# Readable decisions (issue 10, defect 8).

def _cnn():
    from symbolic_automl import keras as sk
    return sk.Sequential([
        sk.Input((8, 8, 1)),
        sk.layers.Conv2D(pg.oneof([16, 32]), pg.oneof([3, 5]), padding="same",
                         activation=pg.oneof(["relu", "swish"])),
        sk.layers.Conv2D(pg.oneof([16, 32]), 3, padding="same"),
        sk.layers.Flatten(), sk.layers.Dense(10)])


def test_named_decisions_are_short_unique_names_and_values():
    space = sa.Space(_cnn())
    pairs = space.named_decisions(pg.DNA([1, 1, 1, 0]))
    assert pairs == [("layers[1].filters", 32), ("kernel_size", 5), ("activation", "swish"),
                     ("layers[2].filters", 16)]
    assert sa.decisions.format_pairs(pairs) == (
        "layers[1].filters=32, kernel_size=5, activation=swish, layers[2].filters=16")


def test_fix_by_values_and_short_names_with_clear_errors():
    space = sa.Space(_cnn())
    partly = space.fix({"layers[1].filters": 32, "activation": "swish"})
    rest = sa.Space(partly)
    assert [str(d.id) for d in rest.dna_spec.decision_points] == [
        "layers[1].kernel_size", "layers[2].filters"]
    assert partly.layers[1].filters == 32 and partly.layers[1].activation == "swish"
    model = space.fix({"layers[1].filters": 16, "kernel_size": 3, "activation": "relu",
                       "layers[2].filters": 32})
    assert pg.is_deterministic(model) and model.to_keras().layers[1].filters == 32
    with pytest.raises(sa.SearchSpaceError, match=r"64 is not a candidate of "
                                                  r"'layers\[1\].filters'.*\[16, 32\]"):
        space.fix({"layers[1].filters": 64})
    with pytest.raises(sa.SearchSpaceError, match=r"'units' is not a decision.*kernel_size"):
        space.fix({"units": 8})


def test_define_by_run_callables_show_labels_not_addresses():
    def make_relu():
        return plain_keras.layers.ReLU()

    def build():
        act = pg.oneof([make_relu, plain_keras.activations.tanh,
                        lambda: plain_keras.layers.ELU()], name="act")
        return act

    space = sa.Space(build)
    labels = [space.decisions(pg.DNA(i))["act"] for i in range(3)]
    assert labels[:2] == ["make_relu", "tanh"]
    assert labels[2].startswith("lambda@space_test.py:")
    assert not any("0x" in l for l in labels)
    assert isinstance(space.materialize(pg.DNA(2)), plain_keras.layers.ELU)
    fixed = space.fix({"act": "tanh"})
    assert fixed() is plain_keras.activations.tanh


def test_recorded_names_shorten_like_the_spec_names():
    names = sa.decisions.shorten_names(
        ["model.layers[1].filters", "model.layers[2].filters", "model.layers[1].kernel_size",
         "[training.learning_rate]", "blocks[=1/3].width"])
    assert names == {"model.layers[1].filters": "layers[1].filters",
                     "model.layers[2].filters": "layers[2].filters",
                     "model.layers[1].kernel_size": "kernel_size",
                     "[training.learning_rate]": "learning_rate",
                     "blocks[=1/3].width": "width"}


def test_weight_sharing_refuses_shared_decisions():
    from symbolic_automl import algorithms
    space = _two_convs(pg.oneof([3, 5]))
    assert sa.Space(space).has_shared_decisions
    with pytest.raises(sa.SearchSpaceError, match="Weight-sharing search does not support"):
        sa.search(space, algorithm=algorithms.DARTS(epochs=1), max_trials=1, progress=False,
                  evaluator=lambda model, context: {"reward": 0.0})
