"""PyGlove's algorithms, exposed with seeded operators and defaults for small budgets.

These return PyGlove's own `pg.DNAGenerator`s unchanged; what this module adds
is that `seed` reaches every random operator (PyGlove's factories share one
unseeded `mutators.Uniform()` default between calls, so their runs are not
reproducible even with `seed`), and defaults sized for searches of ~100-300
trials.

Example::

    from symbolic_automl import algorithms as sa
    result = symbolic_automl.search(space, algorithm=sa.regularized_evolution(seed=1), ...)
"""

from typing import Optional

import pyglove as pg
from pyglove.ext import evolution as pg_evolution


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
                          mutator: Optional[pg_evolution.Mutator] = None) -> pg.DNAGenerator:
    """Regularized (aging) evolution, Real et al. 2019 (PyGlove's implementation).

    The first `population_size` trials are random; then each proposal mutates the
    best of `tournament_size` random members of the last `population_size`
    completed trials. Infeasible trials get no feedback and never enter the
    population.

    Args:
        population_size: number of most recent completed trials kept.
        tournament_size: members sampled per tournament (2 <= t <= population).
        seed: random seed for the initial population, the tournaments and the
            default mutator.
        mutator: a `pg.evolution.Mutator` (default: uniform mutation of one
            decision and its subtree, seeded with `seed`).

    Example::

        sa.regularized_evolution(population_size=20, tournament_size=5, seed=1)
    """
    mutator = mutator or pg_evolution.mutators.Uniform(seed=seed)
    return pg_evolution.regularized_evolution(
        mutator=mutator, population_size=population_size,
        tournament_size=tournament_size, seed=seed)


def hill_climb(batch_size: int = 1,
               init_population_size: int = 1,
               seed: Optional[int] = None,
               mutator: Optional[pg_evolution.Mutator] = None) -> pg.DNAGenerator:
    """(Batched) hill climbing: mutate the best DNA so far (PyGlove's implementation).

    Args:
        batch_size: mutations of the current best proposed per generation.
        init_population_size: random trials before climbing.
        seed: random seed.
        mutator: a `pg.evolution.Mutator` (default: seeded uniform mutation).

    Example::

        sa.hill_climb(batch_size=4, init_population_size=8, seed=1)
    """
    mutator = mutator or pg_evolution.mutators.Uniform(seed=seed)
    return pg_evolution.hill_climb(
        mutator=mutator, batch_size=batch_size,
        init_population_size=init_population_size, seed=seed)


def nsga2(population_size: int = 20,
          seed: Optional[int] = None,
          mutator: Optional[pg_evolution.Mutator] = None) -> pg.DNAGenerator:
    """NSGA-II multi-objective evolution, Deb et al. 2002 (PyGlove's implementation).

    Rewards are tuples (every objective maximized); the search loop feeds them
    when `objective` names several metrics.

    Args:
        population_size: number of elites; the first `2 * population_size`
            trials are random.
        seed: random seed.
        mutator: a `pg.evolution.Mutator` (default: seeded uniform mutation).

    Example::

        sa.nsga2(population_size=10, seed=1)
    """
    mutator = mutator or pg_evolution.mutators.Uniform(seed=seed)
    return pg_evolution.nsga2(mutator=mutator, population_size=population_size, seed=seed)


def neat(population_size: int = 20,
         seed: Optional[int] = None,
         mutator: Optional[pg_evolution.Mutator] = None,
         **kwargs) -> pg.DNAGenerator:
    """NEAT-style speciated evolution (PyGlove's implementation).

    Args:
        population_size: individuals per generation.
        seed: random seed.
        mutator: a `pg.evolution.Mutator` (default: seeded uniform mutation).
        **kwargs: `disjoint_coefficient`, `matching_coefficient`,
            `compatibility_threshold`, `remaining_ratio` of `pg.evolution.neat`.

    Example::

        sa.neat(population_size=10, seed=1)
    """
    mutator = mutator or pg_evolution.mutators.Uniform(seed=seed)
    return pg_evolution.neat(mutator=mutator, population_size=population_size, seed=seed, **kwargs)
