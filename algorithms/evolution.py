"""Aging evolution on assignments: with rejection awareness, and Pareto tournaments.

`Evolution` is regularized (aging) evolution written on `Algorithm`, so that it
is fast, exactly resumable and never proposes the same DNA twice. Two things
PyGlove's evolution lacks:

* rejection (EvoNorm, Liu et al. 2020): candidates turned away by a cheap check
  (`symbolic_automl.algorithms.rejection.with_rejection` on the evaluator side)
  reach the algorithm through `feedback_infeasible`; they never enter the
  population, are never proposed again, and evolution keeps proposing;
* Pareto tournaments (`pareto_tournament_evolution`): with several objectives,
  the parent is drawn from the Pareto front of the tournament sample.

Example::

    algo = sa.evolution_with_rejection(population_size=20, tournament_size=5, seed=1)
    evaluator = sa.with_rejection(evaluator, check=sa.keras_proxy_check(x, y, steps=100),
                                  threshold=0.2)
"""

import collections
import random as random_lib

import pyglove as pg

from .base import Algorithm, Reward, objective_values, pareto_front
from symbolic_automl.genome import Assignment


@pg.members([
    ("population_size", pg.typing.Int(min_value=2, default=50),
     "Number of most recent completed trials kept; the first ones are random."),
    ("tournament_size", pg.typing.Int(min_value=1, default=10),
     "Population members sampled per tournament."),
    ("mutation_rate", pg.typing.Float(min_value=0.0, max_value=1.0, default=0.0),
     "Extra per-decision mutation probability (one decision always mutates)."),
])
class Evolution(Algorithm):
    """Regularized evolution that keeps infeasible/rejected candidates out.

    The first `population_size` *completed* trials are random (rejected ones do
    not count, so the population fills with candidates that passed the check);
    then each proposal mutates the best of `tournament_size` random members of
    the last `population_size` completed trials. Rewards are maximized.
    """

    _avoid_duplicates = True

    def _setup_algorithm(self) -> None:
        if self.tournament_size > self.population_size:
            raise ValueError(
                f"tournament_size ({self.tournament_size}) must be at most "
                f"population_size ({self.population_size})")
        self._population = collections.deque(maxlen=self.population_size)
        self._num_completed = 0
        # Symbolic attribute reads are slow; the hot path reads these plain copies.
        self._sizes = (self.population_size, self.tournament_size)
        self._mutation_rate = self.mutation_rate

    @property
    def population(self):
        """The (assignment, reward) pairs of the current population."""
        return list(self._population)

    def _observe(self, assignment: Assignment, reward: Reward) -> None:
        self._population.append((assignment, reward))
        self._num_completed += 1

    def _propose_assignment(self, rng: random_lib.Random) -> Assignment:
        population_size, tournament_size = self._sizes
        if self._num_completed < population_size:
            return self.genome.sample(rng)
        sample = rng.sample(list(self._population), min(tournament_size, len(self._population)))
        return self.mutate(self._select_parent(sample, rng), rng)

    def _select_parent(self, sample, rng: random_lib.Random) -> Assignment:
        return max(sample, key=lambda member: member[1])[0]

    def mutate(self, parent: Assignment, rng: random_lib.Random) -> Assignment:
        """Resamples one active decision (and maybe more) and repairs the rest."""
        active = [d for d in self.genome.decisions if d.id in parent]
        child = dict(parent)
        rate = self._mutation_rate
        chosen = [rng.choice(active)] + [d for d in active if rate and rng.random() < rate]
        for decision in chosen:
            if decision.group is not None and (decision.distinct or decision.sorted):
                # Resample a constrained manyof as a whole, keeping it valid.
                for member in decision.group:
                    child.pop(member.id, None)
            else:
                old = child.pop(decision.id)
                if decision.is_categorical and decision.num_candidates > 1:
                    child[decision.id] = rng.choice(
                        [i for i in range(decision.num_candidates) if i != old])
        return self.genome.sample(rng, base=child)


class ParetoTournamentEvolution(Evolution):
    """Aging evolution whose tournaments pick a parent from the sample's Pareto front.

    Rewards are tuples of objectives (all maximized); the parent is drawn
    uniformly from the non-dominated members of the tournament sample.
    """

    @property
    def multi_objective(self) -> bool:
        return True

    def _observe(self, assignment: Assignment, reward: Reward) -> None:
        super()._observe(assignment, objective_values(reward))

    def _select_parent(self, sample, rng: random_lib.Random) -> Assignment:
        return rng.choice(pareto_front(sample))[0]


def regularized_evolution(population_size: int = 50, tournament_size: int = 10,
                          seed=None, mutation_rate: float = 0.0) -> Evolution:
    """Regularized (aging) evolution, Real et al. 2019, on the fast assignment path.

    The first `population_size` completed trials are random; then each proposal
    mutates the best of `tournament_size` random members of the last
    `population_size` completed trials, changing at least one decision. It never
    proposes a DNA twice, `recover` equals an uninterrupted run, and the search
    loop builds no `pg.DNA` for it (under 1 ms per trial of loop overhead, durable records).
    PyGlove's own implementation, with a seeded changing mutator and duplicate
    avoidance, is `pyglove_algorithms.regularized_evolution`.

    Example::

        sa.regularized_evolution(population_size=20, tournament_size=5, seed=1)
    """
    return Evolution(seed=seed, population_size=population_size,
                     tournament_size=tournament_size, mutation_rate=mutation_rate)


def evolution_with_rejection(population_size: int = 50, tournament_size: int = 10,
                             seed=None, mutation_rate: float = 0.0) -> Evolution:
    """Regularized evolution for EvoNorm-style rejection (see `Evolution`).

    Pair it with `with_rejection(evaluator, check, threshold)`: rejected candidates
    never enter the population and are never proposed again.

    Example::

        sa.evolution_with_rejection(population_size=20, tournament_size=5, seed=1)
    """
    return regularized_evolution(population_size, tournament_size, seed, mutation_rate)


def pareto_tournament_evolution(population_size: int = 50, tournament_size: int = 10,
                                seed=None, mutation_rate: float = 0.0) -> ParetoTournamentEvolution:
    """Multi-objective aging evolution with Pareto-front tournaments.

    Use with `symbolic_automl.search(..., objective=["accuracy", "-params"])`
    (the loop passes tuples of objectives as rewards).

    Example::

        sa.pareto_tournament_evolution(population_size=20, tournament_size=5, seed=1)
    """
    return ParetoTournamentEvolution(seed=seed, population_size=population_size,
                                     tournament_size=tournament_size, mutation_rate=mutation_rate)
