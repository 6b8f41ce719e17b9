"""`symbolic-automl`: run, resume, show and export searches from the shell.

    symbolic-automl run my_search.py --root_dir=runs/a     # run (or resume) a search
    symbolic-automl resume my_search.py --root_dir=runs/a  # same, says it resumes
    symbolic-automl show --root_dir=runs/a --top=10        # trial table and best
    symbolic-automl export --root_dir=runs/a --trial=best --output=best.json
    symbolic-automl tensorboard --root_dir=runs/a --logdir=runs/tb  # HParams for TensorBoard
    symbolic-automl dashboard --root_dir=runs/a [--port=8080]       # live read-only web view
    symbolic-automl report --root_dir=runs/a --output=report.html   # one self-contained file

The Python file defines `experiment()`, returning the keyword arguments of
`symbolic_automl.search` (space, algorithm, evaluator, max_trials, ...)::

    def experiment():
        return dict(space=..., algorithm=..., evaluator=..., max_trials=20)
"""

import importlib.util
import json
import os
import sys

from absl import app
from absl import flags

from symbolic_automl import errors
from symbolic_automl import experiment as experiment_lib
from symbolic_automl import export
from symbolic_automl import storage
from symbolic_automl import trial as trial_lib

_ROOT_DIR = flags.DEFINE_string("root_dir", None, "Experiment directory (holds trials.sqlite).")
_MAX_TRIALS = flags.DEFINE_integer("max_trials", None, "Override the file's max_trials.")
_TOP = flags.DEFINE_integer("top", 10, "`show`: how many best trials to list.")
_TRIAL = flags.DEFINE_string("trial", "best", "`export`: a trial id, or 'best'.")
_STUDY = flags.DEFINE_string("study", None, "`show`, `export`: a search recorded beside the "
                             "main one (a nested search's inner search, e.g. trial/3).")
_OUTPUT = flags.DEFINE_string("output", None, "`export`: output path (.json; a .keras "
                              "file is written beside it when a trained model was kept).")

_LOGDIR = flags.DEFINE_string("logdir", None, "`tensorboard`: TensorBoard log directory.")
_PORT = flags.DEFINE_integer("port", 8080, "`dashboard`: port to serve on (0: any free port).")
_HOST = flags.DEFINE_string("host", "127.0.0.1", "`dashboard`: address to bind. Only this "
                            "machine can connect by default; another address (e.g. 0.0.0.0) "
                            "exposes the experiment to the network.")

COMMANDS = ("run", "resume", "show", "export", "tensorboard", "dashboard", "report")
# Commands that only read the store (through a read-only connection).
VIEW_COMMANDS = ("tensorboard", "dashboard", "report")
USAGE = (f"usage: symbolic-automl {{{'|'.join(COMMANDS)}}} [search_file.py] "
         "--root_dir=DIR [--max_trials=N] [--top=K] [--trial=ID|best] [--output=PATH] "
         "[--logdir=DIR] [--port=N] [--host=ADDR]")


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"Expected a command, got {argv[1:]!r}.\n{USAGE}")
    command, args = argv[1], argv[2:]
    if _ROOT_DIR.value is None:
        raise app.UsageError(f"--root_dir is required.\n{USAGE}")
    if command in ("run", "resume"):
        if len(args) != 1:
            raise app.UsageError(f"`{command}` takes one search file, got {args!r}.\n{USAGE}")
        try:
            return _run(args[0], resume=command == "resume")
        except errors.StoreError as e:
            return _fail(command, e)
    if args:
        raise app.UsageError(f"`{command}` takes no positional arguments, got {args!r}.")
    store_path = os.path.join(_ROOT_DIR.value, storage.FILENAME)
    if not os.path.exists(store_path):
        raise app.UsageError(f"No experiment at {_ROOT_DIR.value}: {store_path} does not exist.")
    try:
        if command in VIEW_COMMANDS:
            return _view(command)
        store = storage.TrialStore(store_path, study=_STUDY.value)
        try:
            if _STUDY.value is not None and not len(store):
                raise app.UsageError(
                    f"No study {_STUDY.value!r} in {store_path}; its studies are "
                    f"{[s.name for s in store.studies()]}.")
            if command == "show":
                print(show(store, _TOP.value))
            else:
                _export(store)
        finally:
            store.close()
    except (errors.StoreError, errors.NotSerializableError) as e:
        return _fail(command, e)
    return 0


def _fail(command: str, error: Exception) -> int:
    """A store that cannot be read safely: one clear line, no traceback, exit code 1."""
    print(f"symbolic-automl {command}: {error}", file=sys.stderr)
    return 1


def load_search_file(path: str) -> dict:
    """Runs the user's search file and returns its `experiment()` keyword arguments."""
    if not os.path.exists(path):
        raise app.UsageError(f"Search file {path} does not exist.")
    spec = importlib.util.spec_from_file_location("_symbolic_automl_search", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "experiment", None)):
        raise app.UsageError(
            f"{path} must define experiment() returning the keyword arguments of "
            "symbolic_automl.search (space, algorithm, evaluator, max_trials, ...).")
    kwargs = dict(module.experiment())
    missing = {"space", "algorithm", "evaluator"} - set(kwargs)
    if missing:
        raise app.UsageError(f"{path}: experiment() did not return {sorted(missing)}.")
    return kwargs


def _run(path, resume):
    kwargs = load_search_file(path)
    kwargs["root_dir"] = _ROOT_DIR.value
    if _MAX_TRIALS.value is not None:
        kwargs["max_trials"] = _MAX_TRIALS.value
    kwargs.setdefault("max_trials", 10)
    store_path = os.path.join(_ROOT_DIR.value, storage.FILENAME)
    if resume and not os.path.exists(store_path):
        raise app.UsageError(f"Nothing to resume: {store_path} does not exist.")
    result = experiment_lib.search(**kwargs)
    print(result.summary())
    return 0


def show(store: storage.TrialStore, top: int) -> str:
    """The experiment's counts, top trials and best, as text (no Keras import)."""
    objectives = store.get_meta("objectives") or ["reward"]
    result = trial_lib.Result(store.trials(), objectives, os.path.dirname(store.path),
                              study=store.study)
    studies = store.studies()
    header = f"Experiment {store.path}"
    if store.study is not None:
        parent = next((s.parent_id for s in studies if s.name == store.study), None)
        header += f", study {store.study}" + (
            f" (inner search of trial #{parent})" if parent is not None else "")
    lines = [header, result.summary(top)]
    failed = [t for t in result.trials if t.error]
    if failed:
        lines.append(f"{len(failed)} trial(s) without reward, last: #{failed[-1].id} "
                     f"{failed[-1].status}: {failed[-1].error.splitlines()[0]}")
    best = result.best
    if best is not None:
        lines.append(f"Best: trial #{best.id} metrics={json.dumps(best.metrics, sort_keys=True)}")
    if store.study is None and studies:
        lines.append(f"{len(studies)} more search(es) in this store (--study=NAME shows one):")
        lines += [_describe_study(store.path, s) for s in studies]
    return "\n".join(lines)


def _describe_study(path: str, study: storage.Study) -> str:
    """One line per inner search: its outer trial, size and best trial."""
    best = trial_lib.study_result(path, study.name).best
    parent = f"trial #{study.parent_id} -> " if study.parent_id is not None else ""
    found = (f"best #{best.id} reward={trial_lib.format_reward(best.reward)} "
             f"({best.describe_decisions(120)})" if best is not None else "no reward yet")
    return f"  {parent}study {study.name}: {study.num_trials} trials, {found}"


def _export(store):
    if _OUTPUT.value is None:
        raise app.UsageError("`export` needs --output=PATH.json")
    objectives = store.get_meta("objectives") or ["reward"]
    result = trial_lib.Result(store.trials(), objectives, _ROOT_DIR.value)
    if _TRIAL.value == "best":
        chosen = result.best
        if chosen is None:
            raise app.UsageError("No trial with a reward yet: nothing to export as best.")
    else:
        try:
            trial_id = int(_TRIAL.value)
        except ValueError:
            raise app.UsageError(f"--trial must be an integer id or 'best', got {_TRIAL.value!r}.")
        chosen = next((t for t in result.trials if t.id == trial_id), None)
        if chosen is None:
            raise app.UsageError(f"No trial {trial_id}; ids run from 1 to {len(result.trials)}.")
    if chosen.model_json is None:
        raise errors.StoreError(f"Trial #{chosen.id} ({chosen.status}) has no recorded model.")
    model = chosen.model  # Loaded, refusing pickles and code, before anything is written.
    with open(_OUTPUT.value, "w") as f:
        f.write(export.dumps(model))
    if export.is_decisions(model):
        print(f"Trial #{chosen.id}'s model is define-by-run (not fully symbolic): wrote its "
              f"decisions to {_OUTPUT.value}; Space(fn).materialize(trial.dna) rebuilds it.")
    else:
        print(f"Wrote trial #{chosen.id}'s symbolic model to {_OUTPUT.value}.")
    keras_path = os.path.splitext(_OUTPUT.value)[0] + ".keras"
    try:
        export.save_keras(_ROOT_DIR.value, keras_path, trial_id=chosen.id)
        print(f"Wrote its trained Keras model to {keras_path}.")
    except errors.SymbolicAutoMLError as e:
        print(f"No trained Keras model: {e}")


def _view(command):
    """`tensorboard`, `dashboard`, `report`: read the store, never write it."""
    root_dir = _ROOT_DIR.value
    if command == "tensorboard":
        if _LOGDIR.value is None:
            raise app.UsageError("`tensorboard` needs --logdir=DIR")
        from symbolic_automl.reporting import tensorboard  # pylint: disable=g-import-not-at-top

        count = tensorboard.export_store(root_dir, _LOGDIR.value)
        print(f"Wrote TensorBoard HParams of {count} trials to {_LOGDIR.value} "
              f"(tensorboard --logdir={_LOGDIR.value}, then the HPARAMS tab).")
    elif command == "report":
        if _OUTPUT.value is None:
            raise app.UsageError("`report` needs --output=PATH.html")
        from symbolic_automl.reporting import report  # pylint: disable=g-import-not-at-top

        report.write_report(root_dir, _OUTPUT.value)
        print(f"Wrote the report of {root_dir} to {_OUTPUT.value}.")
    else:
        from symbolic_automl.reporting import dashboard  # pylint: disable=g-import-not-at-top

        dashboard.serve(root_dir, host=_HOST.value, port=_PORT.value)
    return 0


def run_main():
    app.run(main)


if __name__ == "__main__":
    run_main()
