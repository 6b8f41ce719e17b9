"""`no_duplicates`: keeps any `pg.DNAGenerator` from spending trials on a DNA twice.

Many algorithms, PyGlove's evolution among them, may propose a DNA that was
already proposed: a mutation that resamples the same value, or one that walks
back to an earlier architecture. With deterministic (or tabular) evaluation such
a trial teaches nothing and costs a full evaluation. `NoDuplicates` wraps the
algorithm and, when it proposes a DNA seen before:

* feeds the algorithm that DNA's recorded reward (as if it had been evaluated
  again; nothing when the first one is still pending, and
  `feedback_infeasible` when it was infeasible and the algorithm takes that),
* asks it again, up to `max_retries` times,
* then proposes a uniformly random unseen DNA instead (seeded), and raises
  `StopIteration` once every DNA of a finite space has been proposed.

An algorithm that keeps repeating itself (a hill climber whose neighbours have
all been tried) gets half as many tries after each replacement in a row, down
to one, and `max_retries` again as soon as it proposes something new: a stuck
algorithm then costs one proposal per trial, not `max_retries`.

The wrapped algorithm hears only about its own proposals; the random
replacements are not fed to it (PyGlove's evolution needs the metadata it
attached at proposal time).

`recover(history)` replays a seeded run exactly: it re-proposes each trial of
the history and feeds its reward, which also restores random states that the
algorithm's own `recover` does not (PyGlove's selectors and mutators). When a
re-proposal differs from the history (an unseeded algorithm, or a history
written by another algorithm), it starts over and hands the history to the
algorithm's own `recover` instead.

Example::

    algo = sa.no_duplicates(pg.evolution.hill_climb(seed=1), max_retries=10, seed=1)
    result = symbolic_automl.search(space, algorithm=algo, evaluator=evaluator, max_trials=100)
    algo.num_duplicates, algo.num_fallbacks    # what it skipped and replaced
"""

import random as random_lib
from typing import Dict, Iterable, List, Optional, Tuple, Union

import pyglove as pg

Reward = Union[float, Tuple[float, ...]]

# A DNA's outcome when it has no reward (yet).
_PENDING = "pending"
_INFEASIBLE = "infeasible"

# DNA metadata marking a random replacement (not the wrapped algorithm's proposal).
FALLBACK_METADATA = "no_duplicates_fallback"

# Uniform draws for an unseen DNA before a finite space is scanned in order.
_RANDOM_TRIES = 100


def dna_key(dna: pg.DNA) -> Tuple:
    """A hashable key of a DNA: equal for equal decisions, with or without spec."""
    return tuple(dna.to_numbers())


@pg.members([
    ("algorithm", pg.typing.Object(pg.DNAGenerator),
     "The algorithm whose repeated proposals are skipped (it is cloned at setup)."),
    ("max_retries", pg.typing.Int(min_value=1, default=10),
     "Repeated proposals of the algorithm in a row before a random unseen DNA is used "
     "(halved after each such replacement in a row, down to 1)."),
    ("seed", pg.typing.Int().noneable(),
     "Seed of the random replacements; None draws from the system."),
])
class NoDuplicates(pg.DNAGenerator):
    """Wraps a `pg.DNAGenerator` so that it never proposes the same DNA twice.

    See the module docstring for how repeats are handled. `inner` is the wrapped
    algorithm's working copy (e.g. `algo.inner.population` for PyGlove's
    evolution); `num_duplicates` counts the repeated proposals it skipped and
    `num_fallbacks` the random replacements it made.

    Example::

        algo = NoDuplicates(pg.evolution.regularized_evolution(
            pg.evolution.mutators.Uniform(seed=1), population_size=20,
            tournament_size=5, seed=1), seed=1)
    """

    def _setup(self) -> None:
        self._start_over()
        # Everything recovered so far, to start over from when a replay fails.
        self._history: List[Tuple[pg.DNA, Optional[Reward]]] = []
        self._replay_failed = False

    def _start_over(self) -> None:
        # A clone gets fresh random states (PyGlove's mutators seed theirs when
        # built), so the same wrapper set up twice proposes the same DNAs.
        self._inner = self.algorithm.clone(deep=True)
        self._inner.setup(self.dna_spec)
        self._rng = random_lib.Random(self.seed) if self.seed is not None else random_lib.Random()
        self._outcomes: Dict[Tuple, Union[Reward, str]] = {}
        # The inner algorithm's own DNA objects: feedback goes to them, since
        # PyGlove's evolution keeps its bookkeeping in their metadata.
        self._inner_dnas: Dict[Tuple, pg.DNA] = {}
        self._fallbacks = set()
        self._space_size = self.dna_spec.space_size
        self._num_duplicates = 0
        self._num_fallbacks = 0
        self._fallbacks_in_a_row = 0
        self._num_proposals = 0
        self._num_feedbacks = 0

    @property
    def inner(self) -> pg.DNAGenerator:
        """The wrapped algorithm's working copy (None before `setup`)."""
        return getattr(self, "_inner", None)

    @property
    def multi_objective(self) -> bool:
        return bool(self.algorithm.multi_objective)

    @property
    def num_duplicates(self) -> int:
        """Proposals of the wrapped algorithm skipped because they were seen before."""
        return getattr(self, "_num_duplicates", 0)

    @property
    def num_fallbacks(self) -> int:
        """Random unseen DNAs proposed because the algorithm kept repeating itself."""
        return getattr(self, "_num_fallbacks", 0)

    # ---------------------------------------------------------------- propose

    def _propose(self) -> pg.DNA:
        if 0 < self._space_size <= len(self._outcomes):
            raise StopIteration(
                f"All {self._space_size} DNAs of the space have been proposed.")
        for _ in range(max(1, self.max_retries >> self._fallbacks_in_a_row)):
            dna = self._inner.propose()  # its StopIteration ends the search too.
            key = dna_key(dna)
            if key not in self._outcomes:
                self._outcomes[key] = _PENDING
                self._inner_dnas[key] = dna
                self._fallbacks_in_a_row = 0
                return dna
            self._num_duplicates += 1
            self._tell_inner_again(dna, self._outcomes[key])
        self._num_fallbacks += 1
        self._fallbacks_in_a_row = min(self._fallbacks_in_a_row + 1, 30)
        return self._random_unseen()

    def _tell_inner_again(self, dna: pg.DNA, outcome) -> None:
        """Tells the inner algorithm what a repeated DNA got the first time."""
        if outcome is _PENDING:
            return
        if outcome is _INFEASIBLE:
            tell = getattr(self._inner, "feedback_infeasible", None)
            if tell is not None:
                tell(dna)
            return
        self._inner.feedback(dna, outcome)

    def _random_unseen(self) -> pg.DNA:
        for _ in range(_RANDOM_TRIES):
            dna = pg.random_dna(self.dna_spec, self._rng)
            key = dna_key(dna)
            if key not in self._outcomes:
                return self._fallback(key, dna)
        if self._space_size > 0:
            # A nearly used-up finite space: the first unseen DNA in order.
            dna = self.dna_spec.first_dna()
            while dna is not None:
                key = dna_key(dna)
                if key not in self._outcomes:
                    return self._fallback(key, dna)
                dna = self.dna_spec.next_dna(dna)
        raise StopIteration(
            f"No unseen DNA in {_RANDOM_TRIES} random draws after {len(self._outcomes)} "
            f"proposals (space size {self._space_size}): the space looks used up.")

    def _fallback(self, key: Tuple, dna: pg.DNA) -> pg.DNA:
        self._outcomes[key] = _PENDING
        self._fallbacks.add(key)
        # Stored with the trial, so that a recover without replay keeps it from
        # the wrapped algorithm, which never proposed it.
        return dna.set_metadata(FALLBACK_METADATA, True)

    # --------------------------------------------------------------- feedback

    def _feedback(self, dna: pg.DNA, reward: Reward) -> None:
        key = dna_key(dna)
        self._outcomes[key] = reward
        inner_dna = self._inner_dnas.get(key)
        if inner_dna is not None:
            self._inner.feedback(inner_dna, reward)
        elif key not in self._fallbacks:
            # Not proposed through this wrapper: the caller's own business.
            self._inner.feedback(dna, reward)

    def feedback_infeasible(self, dna: pg.DNA) -> None:
        """Records `dna` as infeasible; tells the wrapped algorithm if it listens."""
        key = dna_key(dna)
        self._outcomes[key] = _INFEASIBLE
        inner_dna = self._inner_dnas.get(key)
        tell = getattr(self._inner, "feedback_infeasible", None)
        if inner_dna is not None and tell is not None:
            tell(inner_dna)

    # ---------------------------------------------------------------- recover

    def recover(self, history: Iterable[Tuple[pg.DNA, Optional[Reward]]]) -> None:
        """Restores the state after `history` (`(dna, reward or None)` in proposal order).

        Re-proposes and feeds back each trial, which restores a seeded run
        exactly; if a re-proposal differs, starts over and uses the wrapped
        algorithm's own `recover` (see the module docstring).
        """
        history = list(history)
        self._history.extend(history)
        if self._replay_failed:
            self._recover_without_replay()
            return
        for dna, reward in history:
            try:
                proposed = self.propose()
            except StopIteration:
                proposed = None
            if proposed is None or dna_key(proposed) != dna_key(dna):
                self._replay_failed = True
                self._recover_without_replay()
                return
            if reward is not None:
                self.feedback(proposed, reward)

    def _recover_without_replay(self) -> None:
        self._start_over()
        history = [(dna if dna.spec is not None else dna.use_spec(self.dna_spec), reward)
                   for dna, reward in self._history]
        inner_history = []
        for dna, reward in history:
            key = dna_key(dna)
            self._outcomes[key] = _PENDING if reward is None else reward
            if dna.metadata.get(FALLBACK_METADATA):
                self._fallbacks.add(key)
            else:
                self._inner_dnas[key] = dna
                inner_history.append((dna, reward))
            self._num_proposals += 1
            if reward is not None:
                self._num_feedbacks += 1
        self._inner.recover(inner_history)


def no_duplicates(algorithm: pg.DNAGenerator, max_retries: int = 10,
                  seed: Optional[int] = None) -> NoDuplicates:
    """Wraps `algorithm` so that it never proposes a DNA twice (see `NoDuplicates`).

    Args:
        algorithm: any `pg.DNAGenerator`, not yet set up.
        max_retries: repeated proposals in a row that are fed their recorded
            reward and asked again, before a random unseen DNA is proposed
            (halved after each replacement in a row, down to 1; reset when
            the algorithm proposes something new).
        seed: seed of those random replacements.

    Raises:
        TypeError: `algorithm` is not a `pg.DNAGenerator`.
        ValueError: `max_retries` is not a positive int.

    Example::

        algo = sa.no_duplicates(pg.evolution.regularized_evolution(seed=1), seed=1)
    """
    if not isinstance(algorithm, pg.DNAGenerator):
        hint = (" (a factory: call it, e.g. `sa.regularized_evolution(seed=1)`)"
                if callable(algorithm) else "")
        raise TypeError(
            f"no_duplicates() wraps a pg.DNAGenerator; got {type(algorithm).__name__} "
            f"{algorithm!r:.100}{hint}.")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 1:
        raise ValueError(
            f"max_retries must be an int >= 1 (inner proposals tried before a random "
            f"unseen DNA), got {max_retries!r}.")
    return NoDuplicates(algorithm=algorithm, max_retries=max_retries, seed=seed)
