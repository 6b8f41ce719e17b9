"""PyGlove's algorithms, exposed with seeded operators and defaults for small budgets.

These build PyGlove's own `pg.DNAGenerator`s; what this module adds:

* `seed` reaches every random operator (PyGlove's factories share one unseeded
  `mutators.Uniform()` default between calls, so their runs are not
  reproducible even with `seed`);
* the evolutionary ones mutate with `UniformChange` (PyGlove's uniform
  mutation, redrawn until the child differs from its parent) and are wrapped
  in `no_duplicates`, so no trial is spent on a DNA already proposed;
  `dedupe=False` returns PyGlove's object itself;
* defaults sized for searches of ~100-300 trials.

`sa.random`, `sa.grid`, `sa.hill_climb`, `sa.nsga2` and `sa.neat` are these
functions. `sa.regularized_evolution` is our own implementation of the same
algorithm (`evolution.Evolution`: no `pg.DNA` on the loop's hot path, exact
`recover`); PyGlove's stays here as `sa.pyglove_algorithms.regularized_evolution`.

Example::

    from symbolic_automl import algorithms as sa
    result = symbolic_automl.search(
        space, algorithm=sa.pyglove_algorithms.regularized_evolution(seed=1), ...)
"""

from typing import Optional

import pyglove as pg
from pyglove.ext import evolution as pg_evolution

from .dedupe import dna_key, no_duplicates


@pg.members([
    ("max_tries", pg.typing.Int(min_value=1, default=20),
     "Uniform mutations drawn before giving up on one that changes the DNA."),
])
class UniformChange(pg_evolution.mutators.Uniform):
    """PyGlove's `Uniform` mutation, redrawn until the child differs from its parent.

    `pg.evolution.mutators.Uniform` resamples a random node of the DNA, which
    may draw the value it already has (1 in 9 for a 9-way choice): the child is
    its parent again, and evolution spends a trial re-evaluating it. This
    mutator redraws (up to `max_tries` times; a DNA that cannot change is
    returned as the last draw), so a mutation always changes something.

    Example::

        pg.evolution.regularized_evolution(mutator=sa.UniformChange(seed=1), seed=1)
    """

    def mutate(self, dna: pg.DNA, step: int = 0) -> pg.DNA:
        parent = dna_key(dna)
        for _ in range(self.max_tries):
            child = super().mutate(dna, step)
            if dna_key(child) != parent:
                break
        return child


def _finish(algorithm: pg.DNAGenerator, dedupe: bool, seed: Optional[int]) -> pg.DNAGenerator:
    return no_duplicates(algorithm, seed=seed) if dedupe else algorithm


def random(seed: Optional[int] = None) -> pg.DNAGenerator:
    """Uniform random search (`pg.geno.Random`).

    Args:
        seed: random seed; the same seed gives the same proposals, also after
            `recover(history)`.

    Example::

        sa.random(seed=1)
    """
    return pg.geno.Random(seed=seed)


def grid() -> pg.DNAGenerator:
    """Exhaustive grid search over a space of categorical decisions (`pg.geno.Sweeping`).

    Proposes every DNA once, in order, then stops (raises `StopIteration`). A
    `pg.floatv` has no grid: use `pg.oneof` over the values you want instead.

    Example::

        sa.grid()
    """
    return pg.geno.Sweeping()


def regularized_evolution(population_size: int = 50,
                          tournament_size: int = 10,
                          seed: Optional[int] = None,
                          mutator: Optional[pg_evolution.Mutator] = None,
                          dedupe: bool = True) -> pg.DNAGenerator:
    """Regularized (aging) evolution, Real et al. 2019 (PyGlove's implementation).

    The first `population_size` trials are random; then each proposal mutates the
    best of `tournament_size` random members of the last `population_size`
    completed trials. Infeasible trials get no feedback and never enter the
    population. With `dedupe` (default), a DNA already proposed is not proposed
    again: PyGlove's evolution gets its recorded reward (it joins the
    population, as a re-evaluation would) and mutates again (`no_duplicates`).

    Args:
        population_size: number of most recent completed trials kept.
        tournament_size: members sampled per tournament (2 <= t <= population).
        seed: random seed for the initial population, the tournaments, the
            default mutator and the duplicates' random replacements.
        mutator: a `pg.evolution.Mutator` (default: `UniformChange`, uniform
            mutation of one decision and its subtree that always changes the
            DNA, seeded with `seed`).
        dedupe: wrap in `no_duplicates`; False returns PyGlove's
            `pg.evolution.Evolution` itself.

    Example::

        sa.pyglove_algorithms.regularized_evolution(population_size=20, tournament_size=5,
                                                    seed=1)
        sa.pyglove_algorithms.regularized_evolution(seed=1, dedupe=False)  # pg's object
    """
    mutator = mutator or UniformChange(seed=seed)
    return _finish(pg_evolution.regularized_evolution(
        mutator=mutator, population_size=population_size,
        tournament_size=tournament_size, seed=seed), dedupe, seed)


def hill_climb(batch_size: int = 1,
               init_population_size: int = 1,
               seed: Optional[int] = None,
               mutator: Optional[pg_evolution.Mutator] = None,
               dedupe: bool = True) -> pg.DNAGenerator:
    """(Batched) hill climbing: mutate the best DNA so far (PyGlove's implementation).

    With `dedupe` (default), neighbours already tried are not proposed again;
    once every mutation of the best one has been tried, the proposals are
    random unseen DNAs until one of them is better (`no_duplicates`).

    Args:
        batch_size: mutations of the current best proposed per generation.
        init_population_size: random trials before climbing.
        seed: random seed.
        mutator: a `pg.evolution.Mutator` (default: seeded `UniformChange`).
        dedupe: wrap in `no_duplicates`; False returns PyGlove's object itself.

    Example::

        sa.hill_climb(batch_size=4, init_population_size=8, seed=1)
    """
    mutator = mutator or UniformChange(seed=seed)
    return _finish(pg_evolution.hill_climb(
        mutator=mutator, batch_size=batch_size,
        init_population_size=init_population_size, seed=seed), dedupe, seed)


def nsga2(population_size: int = 20,
          seed: Optional[int] = None,
          mutator: Optional[pg_evolution.Mutator] = None,
          dedupe: bool = True) -> pg.DNAGenerator:
    """NSGA-II multi-objective evolution, Deb et al. 2002 (PyGlove's implementation).

    Rewards are tuples (every objective maximized); the search loop feeds them
    when `objective` names several metrics.

    Args:
        population_size: number of elites; the first `2 * population_size`
            trials are random.
        seed: random seed.
        mutator: a `pg.evolution.Mutator` (default: seeded `UniformChange`).
        dedupe: wrap in `no_duplicates`; False returns PyGlove's object itself.

    Example::

        sa.nsga2(population_size=10, seed=1)
    """
    mutator = mutator or UniformChange(seed=seed)
    return _finish(pg_evolution.nsga2(mutator=mutator, population_size=population_size,
                                      seed=seed), dedupe, seed)


def neat(population_size: int = 20,
         seed: Optional[int] = None,
         mutator: Optional[pg_evolution.Mutator] = None,
         dedupe: bool = True,
         **kwargs) -> pg.DNAGenerator:
    """NEAT-style speciated evolution (PyGlove's implementation).

    Args:
        population_size: individuals per generation.
        seed: random seed.
        mutator: a `pg.evolution.Mutator` (default: seeded `UniformChange`).
        dedupe: wrap in `no_duplicates`; False returns PyGlove's object itself.
        **kwargs: `disjoint_coefficient`, `matching_coefficient`,
            `compatibility_threshold`, `remaining_ratio` of `pg.evolution.neat`.

    Example::

        sa.neat(population_size=10, seed=1)
    """
    mutator = mutator or UniformChange(seed=seed)
    return _finish(pg_evolution.neat(mutator=mutator, population_size=population_size,
                                     seed=seed, **kwargs), dedupe, seed)
