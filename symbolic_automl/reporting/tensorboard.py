"""TensorBoard HParams: one experiment config with the space's domains, one run per trial.

Written with the `tensorboard` package's own protobufs and event-file writer, so
no TensorFlow (and no `tf.keras` callback) is needed: it works under the JAX
backend too. Layout of `logdir`::

    logdir/events.out.tfevents...      the `hparams_config` (hparams with domains, metrics)
    logdir/<trial id>/events...        session start (the trial's decisions and `status`),
                                       final metrics (`<metric>`), per-epoch
                                       measurements (`epoch/<metric>`), session end

Domains come from the space: a choice of numbers or strings (or bools) becomes
`Discrete`, a choice of 8 or more consecutive integers `IntInterval`, a
`floatv` `RealInterval`, any other choice `Discrete` of its candidates' labels.
A `manyof` shows one hparam per slot (`name[0]`, `name[1]`, ...). Failed,
infeasible and rejected trials end with `STATUS_FAILURE` and carry their status
in the `status` hparam (completed, stopped, failed, infeasible, rejected).

Example::

    search(..., tensorboard_dir="runs/tb")         # or callbacks=[HParamsLogger("runs/tb")]
    export_store("runs/exp", "runs/tb")            # from a finished (or running) search
    # tensorboard --logdir runs/tb   -> the HParams tab
"""

import dataclasses
import glob
import itertools
import json
import math
import os
import shutil
import socket
import struct
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from symbolic_automl import callbacks
from symbolic_automl import trial as trial_lib
from symbolic_automl.reporting import readable

STATUS_HPARAM = "status"
EPOCH_PREFIX = "epoch/"
# Consecutive integer candidates from this many on show as an interval.
MIN_INT_INTERVAL = 8


@dataclasses.dataclass
class HParamSpec:
    """One hparam: its name, its TensorBoard domain, and how a decision value becomes one."""

    name: str
    domain: Any  # A `tensorboard.plugins.hparams.api` domain, or None (not enumerable).
    convert: Callable[[Any], Any]


def hparam_specs(space=None, trials: Sequence[trial_lib.Trial] = ()) -> List[HParamSpec]:
    """The hparams of a search: one per decision, with domains from the space.

    Args:
      space: the search's `Space` (or None: domains are inferred from the values
        the `trials` recorded).
      trials: recorded trials, used when the space is missing or cannot be
        compiled (custom decision points).
    """
    from tensorboard.plugins.hparams import summary_v2 as hp  # pylint: disable=g-import-not-at-top

    specs = []
    table = None
    genome = getattr(space, "genome", None) if space is not None else None
    if genome is not None:
        table = readable.decision_table(genome)
    if table is not None:
        for _, name, literals, spec in table:
            if literals is None:
                specs.append(HParamSpec(name, hp.RealInterval(float(spec.min_value),
                                                              float(spec.max_value)), float))
            else:
                specs.append(_choice_spec(name, _define_by_run_labels(space, name) or literals))
    else:
        seen: Dict[str, list] = {}
        for trial in trials:
            for name, value in (trial.decisions or {}).items():
                seen.setdefault(name, []).append(value)
        for name, values in seen.items():
            if all(isinstance(v, float) for v in values):
                specs.append(HParamSpec(name, hp.RealInterval(min(values), max(values)), float))
            else:
                specs.append(_choice_spec(name, _unique(values)))
    specs.append(HParamSpec(STATUS_HPARAM, hp.Discrete(list(trial_lib.STATUSES)), str))
    return specs


def _define_by_run_labels(space, name: str) -> Optional[List[str]]:
    """A define-by-run choice of plain Keras layers: the labels `Space.decisions` records."""
    trace = getattr(space, "_trace", None)
    hyper = trace.hyper_dict.get(name) if trace is not None else None
    if hyper is None or not hasattr(hyper, "candidates"):
        return None
    from symbolic_automl import space as space_lib  # pylint: disable=g-import-not-at-top

    labels = [space_lib._describe_layer(c) for c in hyper.candidates]  # pylint: disable=protected-access
    return labels if all(label is not None for label in labels) else None


def _choice_spec(name: str, literals: Sequence[Any]) -> HParamSpec:
    from tensorboard.plugins.hparams import summary_v2 as hp  # pylint: disable=g-import-not-at-top

    literals = _unique(literals)
    if all(isinstance(v, bool) for v in literals):
        return HParamSpec(name, hp.Discrete(literals, dtype=bool), bool)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in literals):
        ints = sorted(v for v in literals if isinstance(v, int))
        if (len(ints) == len(literals) >= MIN_INT_INTERVAL
                and ints == list(range(ints[0], ints[-1] + 1))):
            return HParamSpec(name, hp.IntInterval(ints[0], ints[-1]), int)
        return HParamSpec(name, hp.Discrete([float(v) for v in literals], dtype=float), float)
    if all(isinstance(v, str) for v in literals):
        return HParamSpec(name, hp.Discrete(list(literals), dtype=str), str)
    # Objects (layers, sub-spaces), lists, mixed: their labels.
    return HParamSpec(name, hp.Discrete([_label(v) for v in literals], dtype=str), _label)


def _label(value) -> str:
    if isinstance(value, str):
        return value
    return readable.format_value(value) if isinstance(value, list) else str(value)


def _unique(values):
    out, seen = [], set()
    for v in values:
        key = json.dumps(v, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def metric_names(objectives: Sequence[str], trials: Sequence[trial_lib.Trial] = ()) -> List[str]:
    """The declared metrics: objectives first, then the numeric final and per-epoch metrics seen."""
    names = list(objectives)
    epoch_names = []
    for trial in trials:
        for key, value in trial.metrics.items():
            if key not in names and trial_lib.is_finite_number(value) \
                    and not isinstance(value, bool):
                names.append(key)
        for m in trial.measurements:
            for key in m.metrics:
                if EPOCH_PREFIX + key not in epoch_names:
                    epoch_names.append(EPOCH_PREFIX + key)
    for name in objectives:
        if EPOCH_PREFIX + name not in epoch_names:
            epoch_names.insert(0, EPOCH_PREFIX + name)
    return names + epoch_names


class HParamsWriter:
    """Writes the experiment config and trials' runs into a TensorBoard logdir."""

    def __init__(self, logdir: str):
        if not isinstance(logdir, str) or not logdir:
            raise ValueError(f"logdir must be a directory path, got {logdir!r}.")
        self.logdir = logdir
        os.makedirs(logdir, exist_ok=True)
        self._specs: List[HParamSpec] = []

    def config_files(self) -> List[str]:
        """The top-level event files holding an `hparams_config` (one after a first run)."""
        from tensorboard.plugins.hparams import metadata  # pylint: disable=g-import-not-at-top

        found = []
        for path in sorted(glob.glob(os.path.join(self.logdir, "events.out.tfevents.*"))):
            if any(v.tag == metadata.EXPERIMENT_TAG
                   for event in _read_events(path) for v in event.summary.value):
                found.append(path)
        return found

    def has_config(self) -> bool:
        """Whether `logdir` already holds an `hparams_config` (a resumed search)."""
        return bool(self.config_files())

    def write_config(self, specs: Sequence[HParamSpec], metrics: Sequence[str],
                     created: Optional[float] = None, replace: bool = False) -> bool:
        """Writes the one `hparams_config`, unless the logdir has one (and not `replace`).

        With `replace`, the earlier config's file is removed once the new one is
        written (it holds nothing else), so the logdir keeps exactly one.
        """
        from tensorboard.plugins.hparams import summary_v2 as hp  # pylint: disable=g-import-not-at-top
        from tensorboard.plugins.hparams import summary_v2  # pylint: disable=g-import-not-at-top

        self._specs = list(specs)
        earlier = self.config_files()
        if earlier and not replace:
            return False
        hparams = [hp.HParam(s.name, s.domain) for s in specs]
        declared = [hp.Metric(m, display_name=m) for m in metrics]
        pb = summary_v2.hparams_config_pb(hparams, declared, time_created_secs=created)
        _write(self.logdir, [(pb, 0)])
        for path in earlier:
            os.remove(path)
        return True

    def write_trial(self, trial: trial_lib.Trial) -> None:
        """One run named by the trial id; replaces an earlier run of the same trial."""
        from tensorboard.compat.proto import summary_pb2  # pylint: disable=g-import-not-at-top
        from tensorboard.plugins.hparams import summary_v2  # pylint: disable=g-import-not-at-top

        run_dir = os.path.join(self.logdir, str(trial.id))
        if os.path.isdir(run_dir):
            shutil.rmtree(run_dir)  # An interrupted trial run again: no duplicate session.
        values = self.hparam_values(trial)
        records = [(summary_v2.hparams_pb(values, trial_id=str(trial.id),
                                          start_time_secs=trial.started or None), 0)]
        last_step = 0
        for m in trial.measurements:
            last_step = max(last_step, m.step)
            records.append((_scalars({EPOCH_PREFIX + k: v for k, v in m.metrics.items()},
                                     summary_pb2), m.step))
        final = {k: v for k, v in trial.metrics.items()
                 if trial_lib.is_finite_number(v) and not isinstance(v, bool)}
        if final:
            records.append((_scalars(final, summary_pb2), last_step))
        records.append((_session_end(trial), last_step))
        _write(run_dir, records, wall_time=trial.finished)

    def hparam_values(self, trial: trial_lib.Trial) -> Dict[str, Any]:
        values = {}
        for spec in self._specs:
            if spec.name == STATUS_HPARAM:
                values[spec.name] = trial.status
                continue
            value = (trial.decisions or {}).get(spec.name)
            if value is not None:
                try:
                    values[spec.name] = spec.convert(value)
                except (TypeError, ValueError):
                    values[spec.name] = _label(value)
        return values


class HParamsLogger(callbacks.Callback):
    """A search callback writing TensorBoard HParams as trials end.

    A resumed search keeps the logdir's config and earlier runs and adds runs
    for the trials it finishes (an interrupted trial's run is replaced).

    Args:
      logdir: the TensorBoard log directory (`tensorboard --logdir=...`).
    """

    def __init__(self, logdir: str):
        self.writer = HParamsWriter(logdir)
        self._info = None
        self._done: List[trial_lib.Trial] = []
        self._declared: List[str] = []

    def on_search_begin(self, info: callbacks.SearchInfo) -> None:
        self._info = info
        self._done = [t for t in info.trials if t.status != trial_lib.RUNNING]
        self._declared = metric_names(info.objectives, self._done)
        if not self.writer.write_config(hparam_specs(info.space, self._done), self._declared):
            # Resumed: the config names the metrics the earlier run declared.
            self._declared = self._declared_in_config()

    def on_trial_end(self, trial) -> None:
        self._done.append(trial)
        self.writer.write_trial(trial)

    def on_search_end(self, result) -> None:
        """Declares the metrics first seen during the search (one config still)."""
        if self._info is None:
            return
        metrics = metric_names(self._info.objectives, self._done)
        if not set(metrics) <= set(self._declared):
            self.writer.write_config(hparam_specs(self._info.space, self._done), metrics,
                                     replace=True)
            self._declared = metrics

    def _declared_in_config(self) -> List[str]:
        from tensorboard.plugins.hparams import metadata  # pylint: disable=g-import-not-at-top

        for path in self.writer.config_files():
            for event in _read_events(path):
                for value in event.summary.value:
                    if value.tag == metadata.EXPERIMENT_TAG:
                        experiment = metadata.parse_experiment_plugin_data(
                            value.metadata.plugin_data.content)
                        return [m.name.tag for m in experiment.metric_infos]
        return []


def export_store(root_dir: str, logdir: str) -> int:
    """Writes the HParams of every finished trial of a stored search; returns their count.

    Reads the store read-only (it may be written by a running search). Runs
    already in `logdir` are rewritten, not duplicated, and so is the config.
    """
    from symbolic_automl.reporting import store_view  # pylint: disable=g-import-not-at-top

    view = store_view.StoreView.in_dir(root_dir)
    try:
        trials = [t for t in view.trials() if t.status != trial_lib.RUNNING]
        space = view.space()
        objectives = view.meta("objectives") or ["reward"]
        created = view.meta("created")
    finally:
        view.close()
    writer = HParamsWriter(logdir)
    writer.write_config(hparam_specs(space, trials), metric_names(objectives, trials), created,
                        replace=True)
    for trial in trials:
        writer.write_trial(trial)
    return len(trials)


def _scalars(metrics: Dict[str, float], summary_pb2):
    summary = summary_pb2.Summary()
    for tag, value in metrics.items():
        value = float(value)
        if math.isfinite(value):
            summary.value.add(tag=tag, simple_value=value)
    return summary


def _session_end(trial):
    from tensorboard.compat.proto import summary_pb2  # pylint: disable=g-import-not-at-top
    from tensorboard.plugins.hparams import api_pb2  # pylint: disable=g-import-not-at-top
    from tensorboard.plugins.hparams import metadata  # pylint: disable=g-import-not-at-top
    from tensorboard.plugins.hparams import plugin_data_pb2  # pylint: disable=g-import-not-at-top

    status = (api_pb2.STATUS_SUCCESS if trial.status in trial_lib.FINISHED_WITH_REWARD
              else api_pb2.STATUS_RUNNING if trial.status == trial_lib.RUNNING
              else api_pb2.STATUS_FAILURE)
    info = plugin_data_pb2.SessionEndInfo(status=status,
                                          end_time_secs=trial.finished or time.time())
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.SESSION_END_INFO_TAG,
        metadata=metadata.create_summary_metadata(
            plugin_data_pb2.HParamsPluginData(session_end_info=info)),
        tensor=metadata.NULL_TENSOR)
    return summary


def _write(directory: str, records, wall_time: Optional[float] = None) -> None:
    """Writes one event file of `records` (summary, step).

    TensorBoard's `EventFileWriter` goes through `tf.io.gfile` (importing all of
    TensorFlow when it is installed); local files need only its record framing.
    """
    from tensorboard.compat.proto import event_pb2  # pylint: disable=g-import-not-at-top
    from tensorboard.summary.writer import record_writer  # pylint: disable=g-import-not-at-top

    os.makedirs(directory, exist_ok=True)
    name = "events.out.tfevents.%010d.%s.%s.%s" % (time.time(), socket.gethostname(),
                                                  os.getpid(), next(_FILE_IDS))
    events = [event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")]
    events += [event_pb2.Event(summary=summary, step=int(step),
                               wall_time=wall_time or time.time())
               for summary, step in records]
    writer = record_writer.RecordWriter(open(os.path.join(directory, name), "wb"))
    try:
        for event in events:
            writer.write(event.SerializeToString())
    finally:
        writer.close()


_FILE_IDS = itertools.count()


def _read_events(path):
    """The events of a local event file (the record framing, without TensorFlow)."""
    from tensorboard.compat.proto import event_pb2  # pylint: disable=g-import-not-at-top

    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        start = offset + 12  # Length, then its CRC.
        if start + length + 4 > len(data):
            return  # A record still being written.
        yield event_pb2.Event.FromString(data[start:start + length])
        offset = start + length + 4
