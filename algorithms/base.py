"""`Algorithm`: the small base class of the search algorithms in this package.

Any `pg.DNAGenerator` plugs into `symbolic_automl.search`; `Algorithm` adds what
most algorithms need, so that a new one is a few lines (see
`demos/plugin_algorithm.py`):

* a `seed`, and one fresh `random.Random` per proposal derived from
  `(seed, proposal index)`: proposals are reproducible, and `recover(history)`
  only has to replay feedback (no random draws to re-consume);
* proposals as plain dicts (`Genome` assignments) instead of slow `pg.DNA`s.
  The search loop takes the fast path: `propose_assignment()`, then
  `feedback(assignment, reward)`, building no `pg.DNA` at all; `propose()`
  and `feedback(dna, reward)` still work as in any `pg.DNAGenerator`;
* `feedback_infeasible(dna)` (no-op by default), called by the search loop for
  infeasible and rejected trials;
* optional duplicate avoidance (`_avoid_duplicates = True`).

Example::

    class RandomWalk(Algorithm):
        def _propose_assignment(self, rng):
            return self.genome.sample(rng)

    algo = RandomWalk(seed=1)
    algo.setup(pg.dna_spec(space))
    dna = algo.propose()
"""

import random as random_lib
from typing import Any, Iterable, Optional, Tuple, Union

import pyglove as pg

from symbolic_automl.genome import Assignment, Genome

Reward = Union[float, Tuple[float, ...]]

# Tries of the algorithm's own proposer, then of uniform sampling, before an
# algorithm that avoids duplicates concludes the space is used up.
_OWN_TRIES = 50
_UNIFORM_TRIES = 1000


@pg.members([
    ("seed", pg.typing.Int().noneable(),
     "Random seed; None draws one from the system (proposals then differ per run)."),
])
class Algorithm(pg.DNAGenerator):
    """Base class of symbolic_automl's search algorithms.

    Subclasses implement `_propose_assignment(rng) -> Assignment` and may override
    `_observe(assignment, reward)`, `_observe_infeasible(assignment)` and
    `_setup_algorithm()`. Rewards are maximized (PyGlove's convention).
    """

    # Subclasses that must not propose the same DNA twice set this to True.
    _avoid_duplicates = False

    def _setup(self) -> None:
        self.genome = Genome(self.dna_spec)
        self._base_seed = (
            self.seed if self.seed is not None
            else random_lib.SystemRandom().randrange(2**62))
        self._seen = set()
        self._num_infeasible = 0
        self._setup_algorithm()

    def _setup_algorithm(self) -> None:
        """Override to initialize algorithm state (the genome is ready)."""

    # ---------------------------------------------------------------- propose

    def proposal_rng(self, proposal_index: int) -> random_lib.Random:
        """The random generator of one proposal, a function of seed and index."""
        return random_lib.Random(self._base_seed * 1_000_003 + proposal_index)

    def propose_assignment(self) -> Assignment:
        """Proposes the next candidate as an assignment (`propose` without a `pg.DNA`).

        Raises:
            StopIteration: the algorithm has no more candidates.
        """
        assignment = self._next_assignment()
        self._num_proposals += 1
        return assignment

    def _propose(self) -> pg.DNA:
        return self.genome.to_dna(self._next_assignment())

    def _next_assignment(self) -> Assignment:
        rng = self.proposal_rng(self.num_proposals)
        assignment = self._propose_assignment(rng)
        if self._avoid_duplicates:
            assignment = self._unseen(assignment, rng)
        self._seen.add(Genome.key(assignment))
        return assignment

    def _propose_assignment(self, rng: random_lib.Random) -> Assignment:
        """Returns the next candidate as an assignment. Must be overridden."""
        raise NotImplementedError(f"{type(self).__name__} must implement _propose_assignment")

    def _unseen(self, assignment: Assignment, rng: random_lib.Random) -> Assignment:
        """Returns `assignment`, or a not yet proposed replacement."""
        for _ in range(_OWN_TRIES):
            if Genome.key(assignment) not in self._seen:
                return assignment
            assignment = self._propose_assignment(rng)
        for _ in range(_UNIFORM_TRIES):
            if Genome.key(assignment) not in self._seen:
                return assignment
            assignment = self.genome.sample(rng)
        raise StopIteration(
            f"{type(self).__name__} found no unproposed DNA in {_UNIFORM_TRIES} random "
            f"draws after {len(self._seen)} proposals (space size "
            f"{self.genome.space_size()}): the space looks used up")

    # --------------------------------------------------------------- feedback

    def _feedback(self, dna: Union[pg.DNA, Assignment], reward: Reward) -> None:
        assignment = self._as_assignment(dna)
        # Also what another worker sharing the store proposed: not proposed again.
        self._seen.add(Genome.key(assignment))
        self._observe(assignment, reward)

    def _as_assignment(self, dna: Union[pg.DNA, Assignment]) -> Assignment:
        # The fast path hands back the assignments `propose_assignment` gave.
        return dna if isinstance(dna, dict) else self.genome.assignment(dna)

    def _observe(self, assignment: Assignment, reward: Reward) -> None:
        """Override to learn from a completed trial."""

    def feedback_infeasible(self, dna: Union[pg.DNA, Assignment]) -> None:
        """Called by the search loop for an infeasible or rejected trial."""
        self._num_infeasible += 1
        assignment = self._as_assignment(dna)
        self._seen.add(Genome.key(assignment))
        self._observe_infeasible(assignment)

    def _observe_infeasible(self, assignment: Assignment) -> None:
        """Override to learn from an infeasible/rejected trial (default: ignore)."""

    @property
    def num_infeasible(self) -> int:
        return getattr(self, "_num_infeasible", 0)

    # ---------------------------------------------------------------- recover

    def _replay(self, trial_id: int, dna: Union[pg.DNA, Assignment],
                reward: Optional[Reward]) -> None:
        # Proposal randomness depends only on (seed, index), so replaying the
        # feedback in order restores the state of an uninterrupted run.
        del trial_id
        assignment = self._as_assignment(dna)
        self._seen.add(Genome.key(assignment))
        if reward is not None:
            if self.multi_objective and not isinstance(reward, tuple):
                reward = (reward,)
            self._observe(assignment, reward)

    def recover(self, history: Iterable[Tuple[Union[pg.DNA, Assignment], Optional[Reward]]]
                ) -> None:
        """Replays `(dna or assignment, reward)` history; reward None for pending/infeasible trials.

        To also restore what the algorithm learnt from infeasible trials, call
        `feedback_infeasible(dna)` for them after `recover`.
        """
        super().recover(history)


def objective_values(reward: Reward) -> Tuple[float, ...]:
    """A reward as a tuple of floats (single-objective rewards give 1-tuples)."""
    return tuple(float(r) for r in reward) if isinstance(reward, (tuple, list)) else (float(reward),)


def dominates(a: Tuple[float, ...], b: Tuple[float, ...]) -> bool:
    """Whether `a` Pareto-dominates `b` (every objective maximized)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_front(points: Iterable[Tuple[Any, Tuple[float, ...]]]):
    """The items `(item, objectives)` not dominated by any other one."""
    points = list(points)
    return [p for p in points if not any(dominates(q[1], p[1]) for q in points if q is not p)]
