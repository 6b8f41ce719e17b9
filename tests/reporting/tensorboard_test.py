"""TensorBoard HParams read back with TensorBoard's own reader: domains, runs, metrics, resume."""

import os
import subprocess
import sys
import textwrap

import pyglove as pg
import pytest

pytest.importorskip("tensorboard")

import symbolic_automl as sa  # pylint: disable=g-import-not-at-top
from symbolic_automl import cli  # pylint: disable=g-import-not-at-top,unused-import
from symbolic_automl.reporting import tensorboard as tb  # pylint: disable=g-import-not-at-top


class Block(pg.Object):
    units: int = 4


SPACE = pg.Dict(filters=pg.oneof([16, 32, 64]), activation=pg.oneof(["relu", "swish"]),
                lr=pg.floatv(1e-4, 1e-1, scale="log"), depth=pg.oneof(list(range(1, 11))),
                block=pg.oneof([Block(units=4), Block(units=8)]), bn=pg.oneof([True, False]))


def evaluate(model, context):
    if model.filters == 16 and model.activation == "relu":
        raise RuntimeError("this one breaks")
    for epoch in range(1, 4):
        context.report(epoch, {"accuracy": epoch * model.filters / 300})
    return {"accuracy": model.filters / 100 + model.lr, "params": model.filters * model.depth}


def read_hparams(logdir):
    """(experiment proto, {run: session start}, {run: session end}, {run: {tag: [(step, v)]}})."""
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins.hparams import metadata

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    content = multiplexer.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    experiments = [metadata.parse_experiment_plugin_data(tags[metadata.EXPERIMENT_TAG])
                   for tags in content.values() if metadata.EXPERIMENT_TAG in tags]
    starts = {run: metadata.parse_session_start_info_plugin_data(
                  tags[metadata.SESSION_START_INFO_TAG])
              for run, tags in content.items() if metadata.SESSION_START_INFO_TAG in tags}
    ends = {run: metadata.parse_session_end_info_plugin_data(tags[metadata.SESSION_END_INFO_TAG])
            for run, tags in content.items() if metadata.SESSION_END_INFO_TAG in tags}
    scalars = {}
    for run in multiplexer.Runs():
        accumulator = multiplexer.GetAccumulator(run)
        for tag in accumulator.Tags()["tensors"]:
            if tag.startswith("_hparams_"):
                continue
            scalars.setdefault(run, {})[tag] = [
                (e.step, float(e.tensor_proto.float_val[0])) for e in accumulator.Tensors(tag)]
    return experiments, starts, ends, scalars


def test_search_writes_config_with_domains_one_run_per_trial_and_resume_appends(tmp_path):
    from tensorboard.plugins.hparams import api_pb2

    logdir = str(tmp_path / "tb")
    root = str(tmp_path / "exp")
    first = sa.search(SPACE, algorithm=pg.geno.Random(seed=3), evaluator=evaluate,
                      objective="accuracy", max_trials=8, root_dir=root, progress=False,
                      max_consecutive_failures=100, tensorboard_dir=logdir)
    experiments, starts, ends, scalars = read_hparams(logdir)
    assert len(experiments) == 1
    infos = {h.name: h for h in experiments[0].hparam_infos}
    assert [v.number_value for v in infos["filters"].domain_discrete.values] == [16, 32, 64]
    assert [v.string_value for v in infos["activation"].domain_discrete.values] == [
        "relu", "swish"]
    assert infos["lr"].domain_interval.min_value == pytest.approx(1e-4)
    assert infos["lr"].domain_interval.max_value == pytest.approx(1e-1)
    assert (infos["depth"].domain_interval.min_value,
            infos["depth"].domain_interval.max_value) == (1, 10)
    assert [v.bool_value for v in infos["bn"].domain_discrete.values] == [False, True]
    assert sorted(v.string_value for v in infos["block"].domain_discrete.values) == [
        "Block()", "Block(units=8)"]  # PyGlove leaves default values out.
    assert "failed" in [v.string_value for v in infos["status"].domain_discrete.values]
    metrics = [m.name.tag for m in experiments[0].metric_infos]
    # "params" is only known once trials return it: declared when the search ends.
    assert metrics[0] == "accuracy" and {"params", "epoch/accuracy"} <= set(metrics)
    assert len(tb.HParamsWriter(logdir).config_files()) == 1

    assert sorted(starts, key=int) == [str(t.id) for t in first.trials]
    for trial in first.trials:
        start = starts[str(trial.id)]
        assert start.group_name == str(trial.id)
        assert start.hparams["filters"].number_value == trial.model.filters
        assert start.hparams["activation"].string_value == trial.model.activation
        assert start.hparams["status"].string_value == trial.status
        expected = api_pb2.STATUS_SUCCESS if trial.has_reward else api_pb2.STATUS_FAILURE
        assert ends[str(trial.id)].status == expected
        if trial.has_reward:
            run = scalars[str(trial.id)]
            assert run["accuracy"][-1][1] == pytest.approx(trial.metrics["accuracy"])
            assert [s for s, _ in run["epoch/accuracy"]] == [1, 2, 3]
            assert run["epoch/accuracy"][2][1] == pytest.approx(3 * trial.model.filters / 300)
    assert any(t.status == "failed" for t in first.trials)  # The marking was exercised.

    # Resume: the config and earlier runs stay single; new trials add runs.
    sa.search(SPACE, algorithm=pg.geno.Random(seed=4), evaluator=evaluate, objective="accuracy",
              max_trials=11, root_dir=root, progress=False, max_consecutive_failures=100,
              callbacks=[tb.HParamsLogger(logdir)])
    experiments, starts, _, _ = read_hparams(logdir)
    assert len(experiments) == 1
    assert sorted(starts, key=int) == [str(i) for i in range(1, 12)]
    for run in starts:
        events = [f for f in os.listdir(os.path.join(logdir, run)) if "tfevents" in f]
        assert len(events) == 1, (run, events)

    # Export from the store into a fresh logdir gives the same sessions and domains.
    exported = str(tmp_path / "tb2")
    assert tb.export_store(root, exported) == 11
    experiments2, starts2, _, _ = read_hparams(exported)
    assert len(experiments2) == 1
    assert ({h.name for h in experiments2[0].hparam_infos}
            == {h.name for h in experiments[0].hparam_infos})
    assert {r: s.hparams["filters"].number_value for r, s in starts2.items()} == {
        r: s.hparams["filters"].number_value for r, s in starts.items()}


def test_cli_tensorboard_export(tmp_path):
    root = str(tmp_path / "exp")
    sa.search(SPACE, algorithm=pg.geno.Random(seed=1), evaluator=evaluate, objective="accuracy",
              max_trials=3, root_dir=root, progress=False, max_consecutive_failures=100)
    logdir = str(tmp_path / "tb")
    run = subprocess.run([sys.executable, "-m", "symbolic_automl.cli", "tensorboard",
                          f"--root_dir={root}", f"--logdir={logdir}"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "3 trials" in run.stdout
    experiments, starts, _, _ = read_hparams(logdir)
    assert len(experiments) == 1 and sorted(starts) == ["1", "2", "3"]


def test_logger_works_under_jax_without_tensorflow(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import pyglove as pg
        import symbolic_automl as sa
        space = pg.Dict(a=pg.oneof([1, 2, 3]), b=pg.floatv(0.0, 1.0))
        sa.search(space, algorithm=pg.geno.Random(seed=1),
                  evaluator=lambda m, c: {{"reward": m.a + m.b}}, max_trials=3,
                  progress=False, tensorboard_dir={str(tmp_path)!r})
        import keras
        print("backend", keras.backend.backend(), "tf", "tensorflow" in sys.modules)
    """)
    env = dict(os.environ, KERAS_BACKEND="jax")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "backend jax tf False" in run.stdout
    experiments, starts, _, _ = read_hparams(str(tmp_path))
    assert len(experiments) == 1 and sorted(starts) == ["1", "2", "3"]


def test_trials_in_flight_each_write_their_own_run(tmp_path):
    logdir = str(tmp_path / "tb")
    result = sa.search(SPACE, algorithm=pg.geno.Random(seed=5), evaluator=evaluate,
                       objective="accuracy", max_trials=6, progress=False, parallelism=3,
                       max_consecutive_failures=100, tensorboard_dir=logdir)
    _, starts, _, scalars = read_hparams(logdir)
    assert sorted(starts, key=int) == [str(t.id) for t in result.trials]
    for trial in result.trials:
        assert starts[str(trial.id)].hparams["filters"].number_value == trial.model.filters
        if trial.has_reward:
            assert [v for _, v in scalars[str(trial.id)]["epoch/accuracy"]] == pytest.approx(
                [e * trial.model.filters / 300 for e in (1, 2, 3)])
