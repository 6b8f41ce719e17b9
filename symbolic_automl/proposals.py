"""`Proposal`: one candidate at the boundary between an algorithm and the loop.

The loop speaks to every black-box algorithm through a `Proposer`, and gets
back `Proposal`s that look the same whatever the algorithm speaks:

* `DNAProposer` adapts any `pg.DNAGenerator` (PyGlove's own algorithms, unchanged):
  proposals carry the `pg.DNA` it proposed;
* `AssignmentProposer` adapts `symbolic_automl.algorithms.Algorithm`, which
  proposes plain dicts (`Genome` assignments, `propose_assignment()`) and takes
  them back in `feedback`: its proposals build their `pg.DNA` only if something
  asks for it (a DNA costs milliseconds; the loop's hot path needs none).

`Space.materialize_proposal` turns either kind into the model.

Example::

    proposer = proposer_for(algorithm, space)     # picks the adapter
    proposer.setup()
    proposal = proposer.propose()                 # None once the algorithm is done
    model = space.materialize_proposal(proposal)
    proposer.feedback(proposal, reward=0.93)
"""

import abc
from typing import Any, Dict, List, Optional, Sequence

import pyglove as pg

from symbolic_automl import space as space_lib
from symbolic_automl import trial as trial_lib

Assignment = Dict[str, Any]

# Trials that end without a reward, which algorithms with `feedback_infeasible` hear of.
TOLD_INFEASIBLE = (trial_lib.INFEASIBLE, trial_lib.REJECTED, trial_lib.FAILED)


class Proposal:
    """A candidate: its trial id, its DNA (built lazily), its assignment if any.

    Attributes:
      trial_id: the id of the trial evaluating it (None until the store gives
        one: `Recorder.open`).
      assignment: the `Genome` assignment when the algorithm speaks
        assignments, else None.
      dna: the `pg.DNA`, spec attached (built from the assignment on first use).
    """

    __slots__ = ("trial_id", "assignment", "_dna", "_genome")

    def __init__(self, trial_id: Optional[int] = None, *, dna: Optional[pg.DNA] = None,
                 assignment: Optional[Assignment] = None, genome=None):
        if (dna is None) == (assignment is None):
            raise ValueError(f"Proposal {trial_id} needs a dna or an assignment, not both "
                             f"nor neither (dna={dna!r:.100}, assignment={assignment!r:.100}).")
        if assignment is not None and genome is None:
            raise ValueError(f"Proposal {trial_id}: an assignment needs the genome it assigns.")
        self.trial_id = trial_id
        self.assignment = assignment
        self._dna = dna
        self._genome = genome

    @property
    def dna(self) -> pg.DNA:
        if self._dna is None:
            self._dna = self._genome.to_dna(self.assignment)
        return self._dna

    @property
    def genotype(self) -> Any:
        """What the algorithm proposed, and so takes back in feedback."""
        return self.assignment if self.assignment is not None else self._dna

    def dna_json(self) -> str:
        """The DNA as the store keeps it (`pg.to_json_str`), without building one when it can.

        Raises:
          DNAMismatchError: an assignment that does not fit the space.
        """
        if self.assignment is not None:
            return self._genome.to_dna_json(self.assignment)
        return pg.to_json_str(self._dna)

    def __repr__(self):
        return f"Proposal({self.trial_id}, {self.genotype!r:.200})"


class Proposer(abc.ABC):
    """An algorithm as the loop sees it: proposals out, rewards back.

    Invariants: `propose` may be called again before earlier proposals got
    feedback (N trials in flight), and feedback may come in any order; each
    proposal gets at most one `feedback` or `feedback_infeasible`.
    """

    def __init__(self, algorithm: pg.DNAGenerator, space: space_lib.Space):
        self.algorithm = algorithm
        self.space = space
        # Algorithms that learn from infeasible trials say so with this method.
        self._tell_infeasible = None

    def setup(self) -> None:
        self.algorithm.setup(self.space.dna_spec)
        self._tell_infeasible = getattr(self.algorithm, "feedback_infeasible", None)

    def propose(self) -> Optional[Proposal]:
        """The next proposal (no trial id yet), or None when the algorithm has no more."""
        try:
            return self._propose()
        except StopIteration:
            return None

    @abc.abstractmethod
    def _propose(self) -> Proposal:
        """The algorithm's next proposal; raises StopIteration when it is done."""

    @abc.abstractmethod
    def proposal_of(self, trial: trial_lib.Trial) -> Proposal:
        """The proposal a recorded trial evaluated (to replay it, or run it again)."""

    def tell(self, proposal: Proposal, trial: trial_lib.Trial) -> None:
        """Feeds a finished trial back: its reward, or that it was infeasible."""
        if trial.has_reward:
            self.feedback(proposal, trial.reward)
        elif trial.status in TOLD_INFEASIBLE:
            self.feedback_infeasible(proposal)

    def feedback(self, proposal: Proposal, reward: trial_lib.Reward) -> None:
        self.algorithm.feedback(proposal.genotype, reward)

    def feedback_infeasible(self, proposal: Proposal) -> None:
        # PyGlove's convention is to feed nothing back for an infeasible trial;
        # algorithms that can use the information have `feedback_infeasible`.
        if self._tell_infeasible is not None:
            self._tell_infeasible(proposal.genotype)

    def recover(self, trials: Sequence[trial_lib.Trial]) -> List[Proposal]:
        """Replays recorded trials into the algorithm; returns their proposals, in order.

        Trials without a reward (running, failed, ...) replay as pending; the
        infeasible, rejected and failed ones are then told as infeasible again,
        as they were during the run.
        """
        proposals = [self.proposal_of(t) for t in trials]
        self.algorithm.recover([(p.genotype, t.reward if t.has_reward else None)
                                for p, t in zip(proposals, trials)])
        for p, t in zip(proposals, trials):
            if t.status in TOLD_INFEASIBLE:
                self.feedback_infeasible(p)
        return proposals


class DNAProposer(Proposer):
    """Any `pg.DNAGenerator`: proposals are the `pg.DNA`s it proposes."""

    def _propose(self) -> Proposal:
        return Proposal(dna=self.space.check_dna(self.algorithm.propose()))

    def proposal_of(self, trial: trial_lib.Trial) -> Proposal:
        return Proposal(trial.id, dna=self.space.check_dna(trial.dna))


class AssignmentProposer(Proposer):
    """`symbolic_automl.algorithms.Algorithm`: proposals are `Genome` assignments.

    No `pg.DNA` is built in the loop: the assignment is recorded as DNA JSON
    and materialized directly, and goes back to the algorithm in feedback.
    """

    def _propose(self) -> Proposal:
        return Proposal(assignment=self.algorithm.propose_assignment(), genome=self.space.genome)

    def proposal_of(self, trial: trial_lib.Trial) -> Proposal:
        genome = self.space.genome
        return Proposal(trial.id, genome=genome,
                        assignment=genome.assignment_from_dna_json(trial_lib.trial_dna_json(trial)))


def speaks_assignments(algorithm: Any, space: space_lib.Space) -> bool:
    """Whether `algorithm` proposes assignments of `space.genome` (`propose_assignment`).

    A space with custom decision points has no genome: then DNAs it is.
    """
    return callable(getattr(algorithm, "propose_assignment", None)) and space.genome is not None


def proposer_for(algorithm: pg.DNAGenerator, space: space_lib.Space) -> Proposer:
    """The adapter for `algorithm`: assignments when it speaks them, else DNAs."""
    if speaks_assignments(algorithm, space):
        return AssignmentProposer(algorithm, space)
    return DNAProposer(algorithm, space)


class FixedDNA(pg.DNAGenerator):
    """Proposes one given DNA, then stops (the architecture a weight-sharing search derived).

    Recorded history does not use up its proposal: a resumed search whose
    derived trial failed proposes it once more.
    """

    dna: pg.typing.Object(pg.DNA)

    def _setup(self):
        self._proposed = False

    def _propose(self):
        if self._proposed:
            raise StopIteration()
        self._proposed = True
        return self.dna.clone()
