"""Behaviour of our default `regularized_evolution`, pinned against mutants.

Each property is a `check_*` function that drives an algorithm directly
(propose an assignment, feed a reward back) and raises `AssertionError` when
the behaviour is wrong. The real algorithm must pass every check, and each
mutant below (a plausible broken variant) must fail the check that targets it:

* `AlwaysRandom` samples at random forever: it fails the parent and the
  beats-random checks;
* `WorstParent` mutates the tournament's worst: it fails the parent check;
* `WholePopulationBest` ignores the tournament (global best): it fails the
  tournament-sample check;
* `YoungestOut` removes the youngest member instead of the oldest: it fails
  the aging check;
* `SeveralDecisions` mutates three decisions per child: it fails the
  one-decision check;
* `FirstDecisionOnly` always mutates the same decision: it fails the same check.

As PyGlove's own evolution tests do, it also checks the search beats random
search on a synthetic objective by a clear margin over several seeds.
"""

import random as random_lib
import statistics

import pyglove as pg
import pytest

from symbolic_automl.algorithms import evolution as evolution_lib

NUM_DECISIONS = 8
NUM_CANDIDATES = 10
SPACE = pg.Dict(**{f"x{i}": pg.oneof(list(range(NUM_CANDIDATES)))
                   for i in range(NUM_DECISIONS)})
# The synthetic objective's optimum: reward = -(squared distance to it).
TARGET = {f"x{i}": (3 * i + 1) % NUM_CANDIDATES for i in range(NUM_DECISIONS)}


def _reward(assignment) -> float:
    return -float(sum((assignment[k] - TARGET[k]) ** 2 for k in TARGET))


def _distance(a, b) -> int:
    return sum(a[k] != b[k] for k in a)


def _changed(child, parent):
    return [k for k in parent if child[k] != parent[k]]


def _setup(algorithm):
    algorithm.setup(pg.dna_spec(SPACE))
    return algorithm


def _fill(algorithm, rewards):
    """Feeds the first proposals (random, while the population fills) with `rewards`."""
    members = []
    for reward in rewards:
        assignment = algorithm.propose_assignment()
        algorithm.feedback(assignment, float(reward))
        members.append(assignment)
    return members


def _nearest(child, members):
    """The member closest to the child (its parent), None if two are equally close."""
    distances = sorted((_distance(child, m), i) for i, m in enumerate(members))
    if len(distances) > 1 and distances[0][0] == distances[1][0]:
        return None
    return members[distances[0][1]]


def _parent_of(child, members):
    """The one member the child is a single mutation away from (None if not exactly one)."""
    near = [m for m in members if _distance(child, m) == 1]
    return near[0] if len(near) == 1 else None


# The checks.

def check_parent_is_tournament_best(make_algorithm):
    """Tournament = whole population: every child descends from its best member."""
    population_size = 10
    algorithm = _setup(make_algorithm(population_size, population_size, 1))
    # Rewards rise with age order, so the best is the youngest and outlives the
    # next population_size - 1 children (each fed back as the new worst).
    members = _fill(algorithm, range(population_size))
    best = members[-1]
    for i in range(population_size - 1):
        child = algorithm.propose_assignment()
        assert _nearest(child, members) is best, (
            f"child {i} {child} does not descend from the tournament's best {best} "
            f"({_distance(child, best)} decisions apart)")
        algorithm.feedback(child, -1000.0 - i)


def check_tournament_samples_the_population(make_algorithm):
    """Tournaments of 2: the worst member never wins, the best does not always win."""
    population_size, tournament_size = 10, 2
    parents_seen = {"best": 0, "other": 0}
    for seed in range(3):
        algorithm = _setup(make_algorithm(population_size, tournament_size, seed))
        members = _fill(algorithm, range(population_size))
        for _ in range(15):
            child = algorithm.propose_assignment()
            parent = _parent_of(child, members)
            assert parent is not None, f"child {child} is not one mutation from one member"
            assert parent is not members[0], (
                f"the worst member {members[0]} won a tournament of {tournament_size}")
            parents_seen["best" if parent is members[-1] else "other"] += 1
        # No feedback: the population stays the initial one, so parents are identifiable.
    assert parents_seen["other"] >= 15, (
        f"parents {parents_seen}: with tournaments of {tournament_size} out of "
        f"{population_size}, the best should win only about 1 in 5")


def check_oldest_member_ages_out(make_algorithm):
    """The best member, once the oldest, leaves the population and stops parenting."""
    population_size = 6
    algorithm = _setup(make_algorithm(population_size, population_size, 2))
    # The best is the oldest; the second best the youngest.
    members = _fill(algorithm, [100.0, 1.0, 2.0, 3.0, 4.0, 50.0])
    best, second = members[0], members[-1]
    first_child = algorithm.propose_assignment()
    assert _nearest(first_child, members) is best, "the first child's parent is not the best"
    algorithm.feedback(first_child, -1000.0)  # Full population: the oldest (the best) leaves.
    expected = members[1:] + [first_child]
    assert [m for m, _ in algorithm.population] == expected, (
        "after one more member the population is not the last population_size ones")
    for i in range(3):
        child = algorithm.propose_assignment()
        assert _nearest(child, members + [first_child]) is second, (
            f"child {i} {child} does not descend from the best remaining member {second} "
            f"(the aged-out best was {best})")
        algorithm.feedback(child, -1001.0 - i)


def check_one_decision_mutates(make_algorithm):
    """Each child changes exactly one decision of its parent, and any decision can change."""
    population_size, tournament_size = 5, 2
    mutated = set()
    for seed in range(4):
        algorithm = _setup(make_algorithm(population_size, tournament_size, seed))
        members = _fill(algorithm, range(population_size))
        for _ in range(6):  # No feedback: the population (the possible parents) stays.
            child = algorithm.propose_assignment()
            parent = _parent_of(child, members)
            assert parent is not None, (
                f"child {child} is not one decision away from exactly one member of the "
                f"population {members}")
            mutated.update(_changed(child, parent))
    assert len(mutated) >= NUM_DECISIONS // 2, (
        f"only decisions {sorted(mutated)} were ever mutated (of {NUM_DECISIONS})")


def _best_found(algorithm, budget) -> float:
    best = float("-inf")
    for _ in range(budget):
        assignment = algorithm.propose_assignment()
        reward = _reward(assignment)
        algorithm.feedback(assignment, reward)
        best = max(best, reward)
    return best


def _random_search_best(seed, budget) -> float:
    rng = random_lib.Random(seed)
    return max(_reward({k: rng.randrange(NUM_CANDIDATES) for k in TARGET})
               for _ in range(budget))


def check_beats_random_search(make_algorithm, seeds=range(5), budget=300):
    """Over seeds, evolution's regret (distance of its best from the optimum, 0) is at
    most half of random search's with the same budget, and every seed is ahead."""
    evolved = [-_best_found(_setup(make_algorithm(20, 5, seed)), budget) for seed in seeds]
    random = [-_random_search_best(seed, budget) for seed in seeds]
    ratio = statistics.mean(evolved) / statistics.mean(random)
    assert ratio <= 0.5 and max(evolved) < min(random), (
        f"regrets {evolved} vs random search {random}: mean ratio {ratio:.2f}, expected "
        "at most 0.5 with every seed ahead")


CHECKS = [check_parent_is_tournament_best, check_tournament_samples_the_population,
          check_oldest_member_ages_out, check_one_decision_mutates, check_beats_random_search]


# The algorithm under test, and its mutants.

def _real(population_size, tournament_size, seed):
    return evolution_lib.regularized_evolution(
        population_size=population_size, tournament_size=tournament_size, seed=seed)


class AlwaysRandom(evolution_lib.Evolution):

    def _propose_assignment(self, rng):
        return self.genome.sample(rng)


class WorstParent(evolution_lib.Evolution):

    def _select_parent(self, sample, rng):
        return min(sample, key=lambda member: member[1])[0]


class WholePopulationBest(evolution_lib.Evolution):

    def _select_parent(self, sample, rng):
        return max(self._population, key=lambda member: member[1])[0]


class YoungestOut(evolution_lib.Evolution):

    def _observe(self, assignment, reward):
        if len(self._population) == self.population_size:
            self._population.pop()  # The youngest, not the oldest.
        super()._observe(assignment, reward)


class SeveralDecisions(evolution_lib.Evolution):

    def mutate(self, parent, rng):
        child = dict(parent)
        for key in rng.sample(sorted(parent), 3):
            child[key] = rng.choice([i for i in range(NUM_CANDIDATES) if i != parent[key]])
        return child


class FirstDecisionOnly(evolution_lib.Evolution):

    def mutate(self, parent, rng):
        child = dict(parent)
        child["x0"] = rng.choice([i for i in range(NUM_CANDIDATES) if i != parent["x0"]])
        return child


def _mutant(cls):
    def make(population_size, tournament_size, seed):
        return cls(population_size=population_size, tournament_size=tournament_size, seed=seed)
    make.__name__ = cls.__name__
    return make


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_regularized_evolution_passes(check):
    check(_real)


@pytest.mark.parametrize("mutant, check", [
    (AlwaysRandom, check_parent_is_tournament_best),
    (AlwaysRandom, check_beats_random_search),
    (WorstParent, check_parent_is_tournament_best),
    (WorstParent, check_tournament_samples_the_population),
    (WholePopulationBest, check_tournament_samples_the_population),
    (YoungestOut, check_oldest_member_ages_out),
    (SeveralDecisions, check_one_decision_mutates),
    (FirstDecisionOnly, check_one_decision_mutates),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_mutant_fails_its_check(mutant, check):
    with pytest.raises(AssertionError):
        check(_mutant(mutant))


def test_mutants_pass_the_checks_they_do_not_target():
    # Each check is specific: a mutant fails for its own defect, not because every
    # check rejects anything that is not the real class.
    check_one_decision_mutates(_mutant(WorstParent))
    check_oldest_member_ages_out(_mutant(SeveralDecisions))
    check_one_decision_mutates(_mutant(YoungestOut))
    check_parent_is_tournament_best(_mutant(WholePopulationBest))
    check_parent_is_tournament_best(_mutant(SeveralDecisions))
