"""End to end on TensorFlow CPU: annotate → search → train → record → export."""

import os

import keras as plain_keras
import numpy as np
import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl import data
from symbolic_automl import keras


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", limit=600)


def _space():
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(pg.oneof([4, 8]), 3, activation=pg.oneof(["relu", "swish"])),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def test_search_trains_records_and_exports(digits, tmp_path):
    (x, y), validation = digits
    evaluator = sa.KerasEvaluator(
        x, y, validation_data=validation,
        training=sa.Training(epochs=1, batch_size=64,
                             learning_rate=pg.floatv(1e-3, 1e-2, scale="log")))
    result = sa.search(_space(), algorithm=pg.geno.Random(seed=1), evaluator=evaluator,
                       max_trials=3, root_dir=str(tmp_path), progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 3
    for t in result.trials:
        assert 0.0 <= t.metrics["val_accuracy"] <= 1.0 and t.reward == t.metrics["val_accuracy"]
        assert [m.step for m in t.measurements] == [1]
        assert t.metrics["params"] > 0
        # Learning rate joined the space: the trial's model carries its recipe.
        assert 1e-3 <= t.model.training.learning_rate <= 1e-2
    best = result.best
    json_path = sa.export.save(best, str(tmp_path / "best.json"))
    assert pg.eq(sa.export.load(json_path), best.model)
    keras_path = sa.export.save_keras(result, str(tmp_path / "best.keras"))
    restored = plain_keras.saving.load_model(keras_path)
    assert restored.count_params() == best.metrics["params"]
    accuracy = float(np.mean(np.argmax(restored.predict(validation[0], verbose=0), -1)
                             == validation[1]))
    assert accuracy == pytest.approx(best.metrics["val_accuracy"], abs=1e-6)


class StopAfterFirstEpoch(pg.tuning.EarlyStoppingPolicy):
    def should_stop_early(self, trial):
        return True


def test_stop_early_requests_are_honoured(digits):
    (x, y), validation = digits
    evaluator = sa.KerasEvaluator(x, y, validation_data=validation,
                                  training=sa.Training(epochs=4, batch_size=128))
    result = sa.search(_space(), algorithm=pg.geno.Random(seed=2), evaluator=evaluator,
                       max_trials=1, early_stopping=StopAfterFirstEpoch(), progress=False)
    (trial,) = result.trials
    assert trial.status == "stopped" and trial.metrics["epochs"] == 1.0


class MakeNaN(plain_keras.layers.Layer):
    def call(self, x):
        return x * float("nan")


SymbolicMakeNaN = keras.symbolic_layer(MakeNaN)


def test_model_that_fails_to_build_or_goes_nan_is_recorded_failed(digits):
    (x, y), validation = digits
    space = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Flatten(),
        pg.oneof([keras.layers.Dense(-3), SymbolicMakeNaN(), keras.layers.Dense(16)]),
        keras.layers.Dense(10, activation="softmax"),
    ])
    evaluator = sa.KerasEvaluator(x, y, validation_data=validation,
                                  training=sa.Training(epochs=1, batch_size=128))
    result = sa.search(space, algorithm=pg.geno.Sweeping(), evaluator=evaluator,
                       max_trials=3, progress=False)
    statuses = [t.status for t in result.trials]
    assert statuses == ["failed", "failed", "completed"], [t.error for t in result.trials]
    assert "units" in result.trials[0].error
    assert "nan" in result.trials[1].error.lower()


def test_evaluator_arguments_are_checked():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="validation_data"):
        sa.KerasEvaluator(x, np.zeros(4))
    with pytest.raises(ValueError, match="validation_split"):
        sa.KerasEvaluator(x, np.zeros(4), validation_split=1.5)
    with pytest.raises(TypeError, match="training must be a Training"):
        sa.KerasEvaluator(x, np.zeros(4), validation_split=0.5, training={"epochs": 1})
    with pytest.raises(ValueError, match=r"jit_compile=\.\.\.\) must be True, False or 'auto', "
                                         r"got 'yes'"):
        sa.KerasEvaluator(x, np.zeros(4), validation_split=0.5, jit_compile="yes")


def test_tf_data_and_define_by_run_space(digits):
    import tensorflow as tf

    (x, y), (xv, yv) = digits

    def build():
        return plain_keras.Sequential([
            plain_keras.Input(shape=(8, 8, 1)), plain_keras.layers.Flatten(),
            plain_keras.layers.Dense(pg.oneof([8, 16], name="units"), activation="relu"),
            plain_keras.layers.Dense(10, activation="softmax")])

    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(64)
    evaluator = sa.KerasEvaluator(train, validation_data=val, training=sa.Training(epochs=1))
    result = sa.search(build, algorithm=pg.geno.Sweeping(), evaluator=evaluator,
                       max_trials=2, progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 2
    assert [t.model.decisions["units"] for t in result.trials] == [8, 16]


def test_distribution_strategy_mixed_precision_and_xla_switches(digits):
    import tensorflow as tf

    (x, y), validation = digits
    evaluator = sa.KerasEvaluator(
        x, y, validation_data=validation, training=sa.Training(epochs=1, batch_size=128),
        strategy=tf.distribute.OneDeviceStrategy("/cpu:0"), mixed_precision=True,
        jit_compile=True)
    seen = {}

    def evaluate(model, context):
        metrics = evaluator(model, context)
        seen["policy"] = plain_keras.mixed_precision.global_policy().name
        return metrics

    result = sa.search(_space(), algorithm=pg.geno.Random(seed=3), evaluator=evaluate,
                       max_trials=1, objective="val_accuracy", progress=False)
    assert result.trials[0].status == "completed", result.trials[0].error
    assert seen["policy"] == "mixed_float16"
    # The next evaluator without the switch goes back to float32.
    plain = sa.KerasEvaluator(x, y, validation_data=validation,
                              training=sa.Training(epochs=1, batch_size=128))
    sa.search(_space(), algorithm=pg.geno.Random(seed=3), evaluator=plain, max_trials=1,
              progress=False)
    assert plain_keras.mixed_precision.global_policy().name == "float32"


def test_a_width_shared_by_a_residual_block_searches_end_to_end(digits, tmp_path,
                                                                residual_space):
    (x, y), validation = digits
    evaluator = sa.KerasEvaluator(x, y, validation_data=validation,
                                  training=sa.Training(epochs=1, batch_size=128))
    result = sa.search(residual_space(), algorithm=pg.geno.Sweeping(), evaluator=evaluator,
                       max_trials=2, root_dir=str(tmp_path), progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 2, [t.error for t in result.trials]
    assert len(result.space.dna_spec.elements) == 2
    # The summary names decisions by their paths' short suffixes and shows values.
    summary = result.summary()
    assert "DNA(" not in summary and "filters=" in summary and "=16" in summary
    # The best model comes back as a Keras model, trained: saved under root_dir.
    best = result.best_model()
    assert isinstance(best, plain_keras.Model)
    assert best.count_params() == result.best.metrics["params"]


def test_define_by_run_space_with_a_searched_learning_rate(digits):
    (x, y), validation = digits

    def build():
        return plain_keras.Sequential([
            plain_keras.Input(shape=(8, 8, 1)), plain_keras.layers.Flatten(),
            plain_keras.layers.Dense(pg.oneof([8, 16], name="units"), activation="relu"),
            plain_keras.layers.Dense(10, activation="softmax")])

    evaluator = sa.KerasEvaluator(
        x, y, validation_data=validation,
        training=sa.Training(epochs=1, batch_size=128,
                             learning_rate=pg.floatv(1e-3, 1e-1, scale="log")))
    result = sa.search(build, algorithm=pg.geno.Random(seed=3), evaluator=evaluator,
                       max_trials=2, progress=False)
    assert [t.status for t in result.trials] == ["completed"] * 2, [t.error for t in result.trials]
    names = [d.name for d in result.space.dna_spec.decision_points]
    assert names == ["units", "training.learning_rate"]
    for t in result.trials:
        recorded = t.model.decisions
        assert recorded["units"] in (8, 16) and 1e-3 <= recorded["training.learning_rate"] <= 1e-1
        assert [n for n, _ in result.decisions(t)] == ["units", "learning_rate"]
    rates = [t.model.decisions["training.learning_rate"] for t in result.trials]
    assert rates[0] != rates[1]
    # No root_dir, so nothing saved: the best model is rebuilt from its decisions.
    model = result.best_model()
    assert model.layers[1].units == result.best.model.decisions["units"]


def test_garbage_is_collected_at_most_a_budget_of_the_time_between_trials(monkeypatch):
    from symbolic_automl.evaluators import keras_evaluator  # pylint: disable=g-import-not-at-top

    clock = [100.0]
    calls = []

    def collect():  # A full collection that takes one second.
        calls.append(clock[0])
        clock[0] += 1.0

    monkeypatch.setattr(keras_evaluator.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(keras_evaluator.gc, "collect", collect)
    frozen = []
    monkeypatch.setattr(keras_evaluator.gc, "freeze", lambda: frozen.append(clock[0]))
    schedule = keras_evaluator._GarbageSchedule(budget=0.1)
    schedule.collect_if_due()  # The first trial: collect, then freeze what lives on.
    assert calls == [100.0] and frozen == [101.0]
    for trial_seconds in (4.0, 4.0, 4.0):  # 1 s of collecting every 10 s at most.
        clock[0] += trial_seconds
        schedule.collect_if_due()
    assert calls == [100.0, 113.0] and frozen == [101.0]
    clock[0] += 30.0  # A long trial: collect before the next one.
    schedule.collect_if_due()
    assert calls == [100.0, 113.0, 144.0]


@pytest.mark.skipif(plain_keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's kernel cache")
def test_keras_state_is_cleared_each_trial_the_kernel_cache_every_few(monkeypatch):
    from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
    from symbolic_automl.evaluators import keras_evaluator  # pylint: disable=g-import-not-at-top

    emptied = []
    real = type(context.context()).clear_kernel_cache
    monkeypatch.setattr(type(context.context()), "clear_kernel_cache",
                        lambda self: emptied.append(len(names)) or real(self))
    schedule = keras_evaluator._SessionSchedule(kernel_cache_trials=3)
    names = []
    for _ in range(7):
        schedule.clear()
        names.append(plain_keras.layers.Dense(1).name)
        plain_keras.layers.Dense(1)  # Would make the next one `dense_2` without a clear.
    assert names == ["dense"] * 7
    assert emptied == [2, 5]  # Before the 3rd and the 6th trial.
    assert "clear_kernel_cache" not in vars(context.context())  # The method is back.


@pytest.mark.skipif(plain_keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's kernel cache")
def test_a_context_that_takes_no_attributes_has_its_kernel_cache_emptied(monkeypatch):
    from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
    from symbolic_automl.evaluators import keras_evaluator  # pylint: disable=g-import-not-at-top

    class SlottedContext:
        __slots__ = ("emptied",)

        def __init__(self):
            self.emptied = 0

        def clear_kernel_cache(self):
            self.emptied += 1

    slotted = SlottedContext()
    monkeypatch.setattr(context, "context", lambda: slotted)
    keras_evaluator._SessionSchedule(kernel_cache_trials=100).clear()
    assert slotted.emptied == 1  # Cleared as Keras does, rather than failing the trial.


def _live_func_graphs() -> int:
    import gc  # pylint: disable=g-import-not-at-top
    from tensorflow.python.framework import func_graph  # pylint: disable=g-import-not-at-top

    gc.collect()
    return sum(isinstance(o, func_graph.FuncGraph) for o in gc.get_objects())


@pytest.mark.skipif(plain_keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's gradient registry")
def test_trials_leave_no_traced_graphs_behind(digits):
    # TensorFlow's registry of custom gradients kept each trial's graphs alive
    # (~22 FuncGraphs a trial here): the evaluator releases what a trial registered.
    (x, y), validation = digits
    evaluator = sa.KerasEvaluator(x[:128], y[:128], validation_data=validation,
                                  training=sa.Training(epochs=1, batch_size=64))
    model = pg.materialize(_space(), pg.DNA([0, 0]))
    graphs = []
    for _ in range(4):
        metrics = evaluator(model, None)
        assert np.isfinite(metrics["val_loss"])
        graphs.append(_live_func_graphs())
    assert graphs[3] <= graphs[1], graphs


@pytest.mark.skipif(plain_keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's gradient registry")
def test_only_the_custom_gradients_registered_inside_the_block_are_released():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from tensorflow.python.framework import ops  # pylint: disable=g-import-not-at-top

    from symbolic_automl.evaluators import custom_gradients  # pylint: disable=g-import-not-at-top

    @tf.custom_gradient
    def doubled(v):
        return 2.0 * v, lambda dy: 3.0 * dy  # A gradient unlike the true one.

    def gradient():
        @tf.function
        def step(v):
            with tf.GradientTape() as tape:
                tape.watch(v)
                out = doubled(v)
            return tape.gradient(out, v)
        return float(step(tf.constant(1.0)))

    registry = ops.gradient_registry._registry  # pylint: disable=protected-access
    names = lambda: {k for k in registry if k.startswith("CustomGradient-")}
    assert gradient() == 3.0  # Traced outside: its registration stays.
    kept = names()
    with custom_gradients.released():
        assert gradient() == 3.0
        inside = names() - kept
        assert inside
    assert names() == kept and not inside & names()
    assert gradient() == 3.0  # Later traces register and work as before.
