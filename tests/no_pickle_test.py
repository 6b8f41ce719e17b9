"""Nothing we write holds a pickle, and no load path runs code from a hostile file.

Every test plants a pickle whose unpickling creates a marker file (the
`hostile_pickle` fixture in conftest), then goes through one load path and
checks the marker is still absent and the error says what was refused, where.
The CLI's `show`, `export` and `resume` are checked in `cli_test.py`.
"""

import json
import os
import sqlite3

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import errors
from symbolic_automl import export
from symbolic_automl import trial as trial_lib

OPAQUE_TAG = "pyglove.core.utils.json_conversion._OpaqueObject"


class Tiny(pg.Object):
    width: pg.typing.Any(default=4)


def _tiny_tag():
    return pg.to_json(Tiny())["_type"]


def test_the_planted_pickle_is_live(hostile_pickle):
    # The control: PyGlove itself runs the payload, so the refusals below matter.
    marker = hostile_pickle.marker
    pg.from_json(hostile_pickle.json())
    assert marker.exists()


@pytest.mark.parametrize("where", ["top", "nested"])
def test_export_loads_and_load_refuse_a_pickle(tmp_path, where, hostile_pickle):
    marker = hostile_pickle.marker
    tree = (hostile_pickle.json() if where == "top"
            else {"_type": _tiny_tag(), "width": [1, hostile_pickle.json()]})
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(tree))
    expected_path = r"\$" if where == "top" else r"\$\.width\[1\]"
    for load in (lambda: export.loads(path.read_text()), lambda: export.load(str(path))):
        with pytest.raises(errors.UnsafeJSONError,
                           match=f"Refusing to load {expected_path}: it is a pickled Python "
                                 "object.*Expected JSON numbers"):
            load()
    assert not marker.exists()


def test_a_malformed_type_tag_is_refused():
    with pytest.raises(errors.UnsafeJSONError, match=r"\$\.a: .*malformed type tag"):
        export.loads(json.dumps({"a": {"_type": {"x": 1}}}))


class _MustNotPickle:
    def __reduce__(self):
        raise AssertionError("dumps tried to pickle a value")

    def __repr__(self):
        return "<must not pickle>"


def test_dumps_refuses_values_that_would_need_a_pickle_or_code():
    with pytest.raises(errors.NotSerializableError,
                       match=r"Cannot write \$\.width\[1\].key as JSON: it is a .*_MustNotPickle "
                             r"\(<must not pickle>\), not a symbolic value"):
        export.dumps(Tiny(width=[1, {"key": _MustNotPickle()}]))
    with pytest.raises(errors.NotSerializableError, match=r"\$\.width as JSON: it is marshalled Python code"):
        export.dumps(Tiny(width=lambda x: x))
    with pytest.raises(errors.NotSerializableError, match=r"\$\.width as JSON: it is a serialized function"):
        export.dumps(Tiny(width=os.path.join))
    # PyGlove's own converters (datetime -> int) still apply; plain values pass.
    assert json.loads(export.dumps(Tiny(width=[1, "a", None])))["width"] == [1, "a", None]


def test_pickles_are_refused_on_write_even_from_custom_to_json():
    class WritesOpaque(pg.JSONConvertible):
        def to_json(self, **kwargs):
            return {"_type": OPAQUE_TAG, "value": "gAR9lC4=\n"}

    with pytest.raises(errors.NotSerializableError, match=r"\$\.width as JSON: it is a pickled"):
        export.dumps(Tiny(width=WritesOpaque()))


# The trial store, Trial.model, Trial.dna and Result.

SEARCH = pg.Dict(a=pg.oneof([1, 2, 3]), b=pg.floatv(0.0, 1.0))


def _evaluate(model, context):
    del context
    return {"reward": model.a + model.b}


def _stored_search(root, max_trials=3):
    return sa.search(SEARCH, algorithm=pg.geno.Random(seed=1), evaluator=_evaluate,
                     max_trials=max_trials, root_dir=str(root), progress=False)


def _tamper(root, sql, *params):
    db = sqlite3.connect(os.path.join(str(root), "trials.sqlite"))
    db.execute(sql, params)
    db.commit()
    db.close()


def _hostile_dna(hostile_pickle):
    # A DNA object whose value is a pickle: refused before PyGlove builds the DNA.
    return json.dumps({"_type": pg.to_json(pg.DNA(0))["_type"], "value": hostile_pickle.json()})


def test_store_model_and_dna_records_are_loaded_without_running_code(tmp_path, hostile_pickle):
    marker = hostile_pickle.marker
    root = tmp_path / "exp"
    _stored_search(root)
    _tamper(root, "UPDATE trials SET model=? WHERE id=1",
            json.dumps({"_type": _tiny_tag(), "width": hostile_pickle.json()}))
    _tamper(root, "UPDATE trials SET dna=? WHERE id=2", _hostile_dna(hostile_pickle))
    store = sa.TrialStore(os.path.join(str(root), "trials.sqlite"))
    trials = store.trials()  # Rows are read as text: nothing is decoded yet.
    store.close()
    with pytest.raises(errors.StoreError, match=r"Trial 1's recorded model cannot be loaded: "
                                                r"Refusing to load \$\.width: it is a pickled"):
        trials[0].model
    with pytest.raises(errors.StoreError, match=r"Trial 2's recorded DNA cannot be loaded: "
                                                r"Refusing to load \$\.value: it is a pickled"):
        trials[1].dna
    result = trial_lib.Result(trials, ["reward"])
    assert "trials (completed=3)" in result.summary()  # Shows recorded decisions, not DNA.
    with pytest.raises(errors.StoreError, match="Refusing to load"):
        [t.model for t in result.top(3)]
    # Resuming replays every DNA: it stops with the same clear error.
    with pytest.raises(errors.StoreError, match=r"Trial 2's recorded DNA.*pickled"):
        _stored_search(root, max_trials=4)
    assert trials[2].model.a in (1, 2, 3)  # Untouched rows still load.
    assert not marker.exists()


@pytest.mark.parametrize("column, value, match", [
    ("metrics", "HOSTILE", "metrics is .*expected a JSON object of metric name -> number or"),
    ("metrics", "{not json", "metrics is not valid JSON"),
    ("reward", "HOSTILE", "reward is .*expected a number"),
    ("status", "'exploded'", "status 'exploded'; expected one of"),
])
def test_store_rows_of_the_wrong_shape_are_store_errors(tmp_path, column, value, match,
                                                       hostile_pickle):
    marker = hostile_pickle.marker
    root = tmp_path / "exp"
    _stored_search(root)
    if value == "HOSTILE":
        value = json.dumps({"loss": hostile_pickle.json()} if column == "metrics" else hostile_pickle.json())
    elif value.startswith("'"):
        value = value.strip("'")
    _tamper(root, f"UPDATE trials SET {column}=? WHERE id=2", value)
    with pytest.raises(errors.StoreError, match=match):
        sa.TrialStore(os.path.join(str(root), "trials.sqlite")).trials()
    with pytest.raises(errors.StoreError, match=match):
        _stored_search(root, max_trials=4)  # Resume.
    assert not marker.exists()


def test_hostile_measurements_and_meta_run_nothing(tmp_path, hostile_pickle):
    marker = hostile_pickle.marker
    root = tmp_path / "exp"
    _stored_search(root)
    path = os.path.join(str(root), "trials.sqlite")
    # The recorded space is never decoded (it is kept for people): resuming works.
    _tamper(root, "UPDATE meta SET value=? WHERE key='space'",
            json.dumps(json.dumps({"_type": _tiny_tag(), "width": hostile_pickle.json()})))
    assert len(_stored_search(root, max_trials=4).trials) == 4
    store = sa.TrialStore(path)
    assert json.loads(store.get_meta("space"))["width"]["_type"] == OPAQUE_TAG  # Data only.
    store.close()
    # The read-only view (dashboard, report, TensorBoard) rebuilds the space when it is safe.
    from symbolic_automl.reporting import store_view  # pylint: disable=g-import-not-at-top
    view = store_view.StoreView(path)
    assert view.space() is None
    _tamper(root, "UPDATE trials SET model=? WHERE id=1", json.dumps(hostile_pickle.json()))
    with pytest.raises(errors.StoreError, match=r"Trial 1's recorded model .*\$: it is a pickled"):
        view.trials()[0].model
    view.close()
    _tamper(root, "UPDATE meta SET value=? WHERE key='objectives'", "{garbage")
    with pytest.raises(errors.StoreError, match="meta 'objectives' is not valid JSON"):
        _stored_search(root, max_trials=5)
    _tamper(root, "INSERT INTO measurements VALUES (1, 1, 0.1, ?)",
            json.dumps({"loss": hostile_pickle.json()}))
    with pytest.raises(errors.StoreError, match="measurement at step 1 is .*expected a JSON "
                                                "object of metric name -> number"):
        sa.TrialStore(path).trials()
    assert not marker.exists()


def test_a_store_with_a_changed_schema_is_a_store_error(tmp_path):
    root = tmp_path / "exp"
    _stored_search(root)
    _tamper(root, "ALTER TABLE trials RENAME COLUMN metrics TO results")
    store = sa.TrialStore(os.path.join(str(root), "trials.sqlite"))
    with pytest.raises(errors.StoreError, match="cannot be read as a symbolic_automl trial store "
                                                r"\(SQLite said: no such column: metrics\)"):
        store.trials()
    store.close()
    _tamper(root, "DROP TABLE meta")
    with pytest.raises(errors.StoreError, match="no such table: meta"):
        _stored_search(root, max_trials=4)


# Models that are not symbolic: recorded by their decisions, never pickled.

def _keras_data():
    import numpy as np  # pylint: disable=g-import-not-at-top

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype("float32")
    return x, x[:, :1] * 2.0


def _build_plain_keras():
    import keras  # pylint: disable=g-import-not-at-top

    units = pg.oneof([4, 8], name="units")
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(1)])


def _assert_no_pickle_stored(root, max_bytes=200_000):
    path = os.path.join(str(root), "trials.sqlite")
    assert os.path.getsize(path) < max_bytes  # An 8 MB pickle per trial before.
    db = sqlite3.connect(path)
    rows = db.execute("SELECT dna, model FROM trials").fetchall()
    rows += db.execute("SELECT key, value FROM meta").fetchall()
    db.close()
    for row in rows:
        for text in row:
            assert "_OpaqueObject" not in str(text) and '"code"' not in str(text), text


def _cli_in_process(command, *flag_args):
    from absl import flags  # pylint: disable=g-import-not-at-top
    from symbolic_automl import cli  # pylint: disable=g-import-not-at-top

    flags.FLAGS(["symbolic-automl", *flag_args])
    try:
        return cli.main(["symbolic-automl", command])
    finally:
        flags.FLAGS.unparse_flags()


def test_define_by_run_keras_model_is_stored_by_decisions_exported_and_resumed(tmp_path, capsys):
    import keras  # pylint: disable=g-import-not-at-top
    from symbolic_automl import evaluators  # pylint: disable=g-import-not-at-top

    x, y = _keras_data()
    evaluator = evaluators.KerasEvaluator(
        x, y, (x, y), training=evaluators.Training(epochs=1, batch_size=16, loss="mse"),
        objective="val_loss", jit_compile=False)
    root = tmp_path / "exp"
    result = sa.search(_build_plain_keras, algorithm=pg.geno.Random(seed=1), evaluator=evaluator,
                       max_trials=2, root_dir=str(root), direction="min", progress=False)
    assert result.count("completed") == 2
    _assert_no_pickle_stored(root)
    best = result.best
    assert export.is_decisions(best.model) and best.model.decisions["units"] in (4, 8)
    # Export: the decisions as JSON, and the trained model from its .keras file.
    saved = export.save(best, str(tmp_path / "best.json"))
    assert json.loads(open(saved).read()) == {"decisions": {"units": best.model.decisions["units"]}}
    keras_path = export.save_keras(result, str(tmp_path / "best.keras"))
    restored = keras.saving.load_model(keras_path)  # safe_mode=True, the default.
    assert restored.layers[0].units == best.model.decisions["units"]
    # The CLI's export (in this process: a subprocess would import TensorFlow again).
    assert _cli_in_process("export", f"--root_dir={root}",
                           f"--output={tmp_path / 'cli.json'}") == 0
    printed = capsys.readouterr().out
    assert "is define-by-run (not fully symbolic): wrote its decisions" in printed
    assert "Wrote its trained Keras model" in printed
    assert json.loads((tmp_path / "cli.json").read_text()) == json.loads(open(saved).read())
    # Resume continues from the decisions records.
    resumed = sa.search(_build_plain_keras, algorithm=pg.geno.Random(seed=1), evaluator=evaluator,
                        max_trials=3, root_dir=str(root), direction="min", progress=False)
    assert [t.id for t in resumed.trials] == [1, 2, 3] and resumed.count("completed") == 3
    _assert_no_pickle_stored(root)


def test_a_symbolic_object_wrapping_a_keras_model_is_stored_by_decisions(tmp_path):
    import keras  # pylint: disable=g-import-not-at-top
    from symbolic_automl import evaluators  # pylint: disable=g-import-not-at-top

    x, y = _keras_data()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    space = evaluators.Trainable(model=model, training=evaluators.Training(
        epochs=1, batch_size=16, loss="mse", learning_rate=pg.floatv(1e-3, 1e-2, name="lr")))
    with pytest.raises(errors.NotSerializableError, match=r"Cannot write \$\.model as JSON: it "
                                                          r"is a keras\..*Sequential"):
        export.dumps(space)
    root = tmp_path / "exp"
    result = sa.search(space, algorithm=pg.geno.Random(seed=1),
                       evaluator=evaluators.KerasEvaluator(x, y, (x, y), objective="val_loss",
                                                          jit_compile=False),
                       max_trials=2, root_dir=str(root), direction="min", progress=False)
    assert result.count("completed") == 2, [t.error for t in result.trials]
    _assert_no_pickle_stored(root)
    assert 1e-3 <= result.best.model.decisions["lr"] <= 1e-2
