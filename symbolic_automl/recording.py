"""`Recorder`: every store write of a search, and the trained models kept beside it.

The loop never touches the store itself: it asks the recorder to open a trial
for a proposal, claim an interrupted one, add an intermediate report, and
finish a trial (which also keeps its trained `.keras` model if it is among the
`keep_models` best). Each write is committed before the loop moves on.

Other processes may search the same store at once (each one a worker, see
`storage.TrialStore`): the recorder tells the loop which trials they finished
(`finished_elsewhere`), keeps `trials` equal to the whole store as it learns of
them, and reports a trial another worker took over (`finish` returns False).

Example::

    recorder = Recorder(root_dir, space, objectives, keep_models=3)
    trial = recorder.open(proposal)           # a running trial, committed
    trial.metrics, trial.status = {...}, "completed"
    recorder.finish(trial, artifact_dir=None)
"""

import bisect
import os
import shutil
import time
import traceback
from typing import Any, Callable, List, Optional

from absl import logging
import pyglove as pg

from symbolic_automl import compatibility
from symbolic_automl import errors
from symbolic_automl import export
from symbolic_automl import objectives as objectives_lib
from symbolic_automl import reporting
from symbolic_automl import space as space_lib
from symbolic_automl import storage
from symbolic_automl import trial as trial_lib


class Recorder:
    """The trial store of one search, and its kept trained models.

    Args:
      root_dir: where the store (`trials.sqlite`) and models go; None: in memory.
      space: the `Space` searched (to record decisions and models).
      objectives: what the search scores (ranks the kept models).
      keep_models: how many best trained `.keras` models to keep.
      study, parent_id: which search of the store this is (see `search`).
      evaluator: the search's evaluator, whose recipe a resume must keep
        (see `symbolic_automl.compatibility`).

    Attributes:
      trials: every trial of the store, in id order: all of them when the
        search began, then this worker's, and other workers' as they finish.
    """

    def __init__(self, root_dir: Optional[str], space: space_lib.Space,
                 objectives: objectives_lib.Objectives, keep_models: int = 3,
                 study: Optional[str] = None, parent_id: Optional[int] = None,
                 evaluator: Any = None):
        self.root_dir = root_dir
        self.space = space
        self.objectives = objectives
        self.keep_models = keep_models
        self.store = storage.TrialStore.in_dir(root_dir, study=study, parent_id=parent_id)
        try:
            compatibility.check_or_record(self.store, space, evaluator, objectives.names,
                                          objectives.directions)
            self.trials: List[trial_lib.Trial]
            # The cursor of `finished_elsewhere`, at the moment of this snapshot.
            self.trials, self._cursor = self.store.snapshot()
        except BaseException:
            self.store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def result(self) -> trial_lib.Result:
        # The in-memory records equal the store's (each was committed as it
        # changed); re-reading would re-parse every DNA, ~10 ms each.
        return trial_lib.Result(list(self.trials), self.objectives.names, self.root_dir,
                                self.space, self.store.get_meta("architecture_history"),
                                study=self.store.study)

    # Trials.

    def open(self, proposal, budget: Optional[int] = None) -> Optional[trial_lib.Trial]:
        """Records a new running trial for `proposal`; the store gives its id.

        Args:
          proposal: what the trial evaluates; its `trial_id` is set.
          budget: record it only while fewer trials than this count towards
            the budget, over every worker sharing the store.

        Returns:
          The trial, or None when other workers used up the budget meanwhile.

        Raises:
          DNAMismatchError: an assignment that does not fit the space.
        """
        now = time.time()
        trial = trial_lib.Trial(id=None, dna=None, dna_json=proposal.dna_json(),
                                build_dna=lambda: proposal.dna, status=trial_lib.RUNNING,
                                created=now, started=now)
        trial.decisions = self._decisions(trial, proposal)
        if self.store.add(trial, budget=budget) is None:
            return None
        proposal.trial_id = trial.id
        self._merge(trial)
        return trial

    def _merge(self, trial: trial_lib.Trial) -> None:
        """Puts `trial` in `trials` at its id's place, replacing an older record of it."""
        i = bisect.bisect_left(self.trials, trial.id, key=lambda t: t.id)
        if i < len(self.trials) and self.trials[i].id == trial.id:
            self.trials[i] = trial
        else:
            self.trials.insert(i, trial)

    def claim_interrupted(self, limit: int) -> List[trial_lib.Trial]:
        """Up to `limit` interrupted trials, now this worker's to run again.

        Interrupted: running in a worker that is gone (this search killed
        before, or another process sharing the store that died) and whose
        lease ended. Each keeps its id, with `attempts + 1` and no partial reports.
        """
        claimed = self.store.claim_expired(limit)
        for trial in claimed:
            self._merge(trial)
            logging.info("Re-running trial %d (attempt %d), interrupted before.",
                         trial.id, trial.attempts)
        return claimed

    def finished_elsewhere(self) -> List[trial_lib.Trial]:
        """Trials other workers finished since the last call (or the start), in finish order."""
        finished, self._cursor = self.store.finished_since(self._cursor)
        for trial in finished:
            self._merge(trial)
        return finished

    def budget_used(self) -> int:
        """Trials counting towards the budget (all but rejected), every worker's, running too."""
        return self.store.budget_used()

    @property
    def poll_seconds(self) -> float:
        """How often to look again while only other workers' trials are running."""
        return min(1.0, self.store.lease_seconds / 4)

    def set_model(self, trial: trial_lib.Trial, model: Any, json_text: Optional[str] = None) -> None:
        """Keeps the materialized model's JSON (written with the trial's outcome).

        Args:
          json_text: `export.dumps(model)` when the caller has it already.
        """
        trial.model_json = json_text or model_json(model, self.space, lambda: trial.dna)

    def add_measurement(self, trial: trial_lib.Trial, measurement: trial_lib.Measurement) -> bool:
        """Records an intermediate report; False when another worker took the trial over."""
        trial.measurements.append(measurement)
        try:
            self.store.add_measurement(trial.id, measurement)
        except errors.LeaseLostError as e:
            logging.warning("%s", e)
            return False
        return True

    def finish(self, trial: trial_lib.Trial, artifact_dir: Optional[str]) -> bool:
        """Records the trial's outcome, then keeps or drops its trained model.

        Returns:
          False when another worker took the trial over after this worker's
          lease expired (e.g. this process was suspended): its run is the one
          recorded, and its files in the trial's directory are left alone.
        """
        trial.finished = time.time()
        try:
            self.store.finish(trial)
        except errors.LeaseLostError as e:
            logging.warning("%s", e)
            return False
        self._keep_trained_model(trial, artifact_dir)
        return True

    def _decisions(self, trial: trial_lib.Trial, proposal) -> Optional[dict]:
        """Decision name -> value, recorded so viewers without the space show values."""
        try:
            if proposal.assignment is not None and not self.space.is_define_by_run:
                # Same as `Space.decisions`, without building the trial's pg.DNA.
                return reporting.decisions_of_assignment(self.space.genome, proposal.assignment)
            return self.space.decisions(trial.dna)
        except Exception:  # pylint: disable=broad-except
            # Only a view of the trial: a space whose values do not describe
            # themselves still searches (viewers fall back to the DNA).
            logging.debug("No readable decisions for trial %d:\n%s", trial.id,
                          traceback.format_exc(limit=4))
            return None

    # Experiment-level records.

    def set_architecture_history(self, history: Any) -> None:
        self.store.set_meta("architecture_history", history)

    # Trained models: the evaluator saves into a trial's artifact directory;
    # the best `keep_models` move to root_dir/models.

    def artifact_dir(self, trial: trial_lib.Trial, evaluator: Any) -> Optional[str]:
        """A fresh directory for the trial's files when the evaluator saves models."""
        if self.root_dir is None or not getattr(evaluator, "saves_models", False):
            return None
        directory = os.path.join(self.root_dir, "trials", str(trial.id))
        os.makedirs(directory, exist_ok=True)
        return directory

    def _keep_trained_model(self, trial: trial_lib.Trial, artifact_dir: Optional[str]) -> None:
        if artifact_dir is None:
            return
        saved = os.path.join(artifact_dir, "model.keras")
        if trial.has_reward and os.path.exists(saved):
            target = export.keras_model_path(self.root_dir, trial.id)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(saved, target)
            self._prune_models()
        shutil.rmtree(artifact_dir, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(artifact_dir))  # `trials/`, once empty.
        except OSError:
            pass

    def _prune_models(self) -> None:
        keep = {t.id for t in trial_lib.Result(self.trials, self.objectives.names)
                .top(self.keep_models)}
        for t in self.trials:
            path = export.keras_model_path(self.root_dir, t.id)
            if t.id not in keep and os.path.exists(path):
                os.remove(path)


def model_json(model: Any, space: space_lib.Space, get_dna: Callable[[], pg.DNA]) -> Optional[str]:
    """The record of a materialized model: its symbolic JSON, else its decisions."""
    if isinstance(model, pg.Symbolic):
        try:
            return export.dumps(model)
        except (TypeError, ValueError):  # e.g. `Trainable(model=<a plain keras.Model>)`.
            pass
    # Define-by-run models, and symbolic ones holding values with no safe JSON
    # form, are recorded by their decisions: `export.dumps` never writes a pickle.
    return export.decisions_json(space.decisions(get_dna()))
