"""Conformance checks that every search algorithm (a `pg.DNAGenerator`) should pass.

Run them on your own algorithm before plugging it into `symbolic_automl.search`::

    from symbolic_automl.algorithms import conformance

    conformance.check(lambda seed: MyAlgorithm(seed=seed))          # raises on failure

or, in pytest, one test per (check, space)::

    @pytest.mark.parametrize("check_name", conformance.CHECKS)
    @pytest.mark.parametrize("space_name", conformance.SPACES)
    def test_my_algorithm(check_name, space_name):
        conformance.run_check(check_name, make_algorithm, space_name)

`make_algorithm(seed)` must return a fresh, not yet set up algorithm. The checks
drive it like the search loop does (setup, propose, feedback or
`feedback_infeasible`, `recover`) with a deterministic toy reward, no Keras:

* `fits_spec`: every proposal validates against the DNASpec and materializes;
* `deterministic`: the same seed gives the same proposals;
* `survives_infeasible`: infeasible trials (no reward; `feedback_infeasible(dna)`
  when the algorithm has it), including a run of them at the start, do not
  stop or break the algorithm;
* `recover`: `recover(history)` then more proposals equals an uninterrupted run;
* `no_duplicates`: no DNA is proposed twice (only when the algorithm promises it).
"""

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import pyglove as pg

from symbolic_automl import export

MakeAlgorithm = Callable[[int], pg.DNAGenerator]


class ConformanceError(AssertionError):
    """An algorithm failed a conformance check; the message says which and how."""


def _categorical_space():
    return pg.Dict(
        units=pg.oneof([8, 16, 32, 64]), activation=pg.oneof(["relu", "tanh", "swish"]),
        layers=pg.oneof([1, 2, 3, 4, 5]), norm=pg.oneof([None, "batch", "layer"]))


def _manyof_space():
    return pg.Dict(
        ops=pg.manyof(2, ["conv", "pool", "skip", "sep"]),                   # distinct
        edges=pg.manyof(3, list(range(5)), distinct=True, sorted=True),
        repeats=pg.manyof(2, [1, 2, 3], distinct=False),                     # ordered list
        width=pg.oneof([16, 32]))


def _float_space():
    return pg.Dict(
        learning_rate=pg.floatv(1e-4, 1e-1, scale="log"),
        dropout=pg.floatv(0.0, 0.5), units=pg.oneof([16, 32, 64]))


def _conditional_space():
    return pg.Dict(
        block=pg.oneof([
            pg.Dict(kind="conv", filters=pg.oneof([8, 16, 32]),
                    kernel=pg.oneof([pg.Dict(size=pg.oneof([3, 5])), 1])),
            pg.Dict(kind="mlp", units=pg.manyof(2, [16, 32, 64]), dropout=pg.floatv(0.0, 0.5)),
            "identity",
        ]),
        optimizer=pg.oneof(["adam", "sgd"]))


# Name -> function returning the symbolic search space.
SPACES: Dict[str, Callable[[], pg.Symbolic]] = {
    "categorical": _categorical_space,
    "manyof": _manyof_space,
    "float": _float_space,
    "conditional": _conditional_space,
}

CATEGORICAL_SPACES = ("categorical", "manyof")


def toy_reward(dna: pg.DNA, multi_objective: bool = False):
    """A deterministic, bumpy reward of a DNA (a tuple of 2 when multi-objective)."""
    values = [float(v) for v in dna.to_numbers()]
    first = sum(math.cos(1.7 * i + 0.9 * v) for i, v in enumerate(values)) / max(len(values), 1)
    if not multi_objective:
        return first
    return (first, sum(math.sin(0.5 * i - v) for i, v in enumerate(values)) / max(len(values), 1))


def _space_size(spec: pg.DNASpec) -> float:
    # pyglove reports -1 for spaces with a float decision.
    return spec.space_size if spec.space_size > 0 else math.inf


def _key(dna: pg.DNA) -> Tuple:
    return tuple(dna.to_numbers())


def simulate(algorithm: pg.DNAGenerator, dna_spec: pg.DNASpec, num_trials: int,
             is_infeasible: Callable[[int], bool] = lambda i: False,
             setup: bool = True, stored: Optional[List[str]] = None) -> Tuple[List[pg.DNA], List]:
    """Drives an algorithm like the search loop does; returns (proposals, rewards).

    Trial `i` is infeasible when `is_infeasible(i)`: it gets no reward, and
    `algorithm.feedback_infeasible(dna)` is called when the algorithm has it.
    Stops early when the algorithm raises `StopIteration`. When `stored` is a
    list, each proposal's JSON is appended to it as a trial store records it (at
    proposal time, metadata included).
    """
    if setup:
        algorithm.setup(dna_spec)
    proposals, rewards = [], []
    offset = algorithm.num_proposals
    for i in range(offset, offset + num_trials):
        try:
            dna = algorithm.propose()
        except StopIteration:
            break
        proposals.append(dna)
        if stored is not None:
            stored.append(pg.to_json_str(dna))
        if is_infeasible(i):
            rewards.append(None)
            if hasattr(algorithm, "feedback_infeasible"):
                algorithm.feedback_infeasible(dna)
        else:
            reward = toy_reward(dna, algorithm.multi_objective)
            rewards.append(reward)
            algorithm.feedback(dna, reward)
    return proposals, rewards


def _fail(check_name: str, algorithm: pg.DNAGenerator, space_name: str, message: str):
    raise ConformanceError(
        f"{type(algorithm).__name__} fails conformance check {check_name!r} on the "
        f"{space_name!r} space: {message}")


def check_fits_spec(make_algorithm: MakeAlgorithm, space_name: str, num_trials: int = 30):
    """Every proposal validates against the DNASpec and materializes into the space."""
    space = SPACES[space_name]()
    spec = pg.dna_spec(space)
    algorithm = make_algorithm(1)
    proposals, _ = simulate(algorithm, spec, num_trials)
    if not proposals:
        _fail("fits_spec", algorithm, space_name, "it proposed nothing")
    for i, dna in enumerate(proposals):
        if not isinstance(dna, pg.DNA):
            _fail("fits_spec", algorithm, space_name,
                  f"proposal {i} is a {type(dna).__name__}, expected a pg.DNA")
        try:
            spec.validate(dna)
            # Materializing is the slow part; a few proposals show the spec is attached right.
            if i < 5:
                pg.materialize(space, dna.use_spec(spec) if dna.spec is None else dna)
        except Exception as e:  # pyglove raises ValueError/KeyError/TypeError here.
            _fail("fits_spec", algorithm, space_name,
                  f"proposal {i} {dna!r} does not fit the spec ({type(e).__name__}: {e})")


def check_deterministic(make_algorithm: MakeAlgorithm, space_name: str, num_trials: int = 30):
    """Two runs with the same seed propose the same DNAs."""
    spec = pg.dna_spec(SPACES[space_name]())
    first, _ = simulate(make_algorithm(7), spec, num_trials)
    algorithm = make_algorithm(7)
    second, _ = simulate(algorithm, spec, num_trials)
    for i, (a, b) in enumerate(zip(first, second)):
        if _key(a) != _key(b):
            _fail("deterministic", algorithm, space_name,
                  f"with seed 7, proposal {i} was {a!r} in one run and {b!r} in another")
    if len(first) != len(second):
        _fail("deterministic", algorithm, space_name,
              f"one run made {len(first)} proposals, the other {len(second)}")


def check_survives_infeasible(make_algorithm: MakeAlgorithm, space_name: str,
                              num_trials: int = 45):
    """The first 10 trials and every third one after are infeasible; it goes on."""
    spec = pg.dna_spec(SPACES[space_name]())
    algorithm = make_algorithm(3)
    try:
        proposals, rewards = simulate(
            algorithm, spec, num_trials, is_infeasible=lambda i: i < 10 or i % 3 == 0)
    except Exception as e:  # any crash is the failure being checked for.
        _fail("survives_infeasible", algorithm, space_name,
              f"it raised {type(e).__name__}: {e}")
    if len(proposals) < min(num_trials, _space_size(spec)):
        _fail("survives_infeasible", algorithm, space_name,
              f"it stopped after {len(proposals)} of {num_trials} proposals")
    for i, dna in enumerate(proposals):
        try:
            spec.validate(dna)
        except Exception as e:
            _fail("survives_infeasible", algorithm, space_name,
                  f"proposal {i} {dna!r} does not fit the spec: {e}")


def check_recover(make_algorithm: MakeAlgorithm, space_name: str, num_trials: int = 25):
    """`recover(history)` and `num_trials` more proposals equal an uninterrupted run."""
    spec = pg.dna_spec(SPACES[space_name]())
    uninterrupted, _ = simulate(make_algorithm(5), spec, 2 * num_trials)
    stored = []
    history_proposals, history_rewards = simulate(
        make_algorithm(5), spec, num_trials, stored=stored)
    resumed = make_algorithm(5)
    resumed.setup(spec)
    # DNAs as a trial store loads them: JSON written at proposal time, no spec.
    history = [(export.loads(text), reward)
               for text, reward in zip(stored, history_rewards)]
    try:
        resumed.recover(history)
        continued, _ = simulate(resumed, spec, num_trials, setup=False)
    except Exception as e:  # any crash is the failure being checked for.
        _fail("recover", resumed, space_name, f"it raised {type(e).__name__}: {e}")
    expected = uninterrupted[len(history_proposals):]
    for i, (a, b) in enumerate(zip(expected, continued)):
        if _key(a) != _key(b):
            _fail("recover", resumed, space_name,
                  f"after recovering {len(history)} trials, proposal {len(history) + i} is "
                  f"{b!r}; the uninterrupted run proposed {a!r}")
    if len(expected) != len(continued):
        _fail("recover", resumed, space_name,
              f"the resumed run made {len(continued)} proposals, the uninterrupted "
              f"one {len(expected)}")


def check_no_duplicates(make_algorithm: MakeAlgorithm, space_name: str, num_trials: int = 60):
    """No DNA is proposed twice (for algorithms that promise it)."""
    spec = pg.dna_spec(SPACES[space_name]())
    algorithm = make_algorithm(2)
    proposals, _ = simulate(algorithm, spec, min(num_trials, _space_size(spec)))
    seen = {}
    for i, dna in enumerate(proposals):
        if _key(dna) in seen:
            _fail("no_duplicates", algorithm, space_name,
                  f"proposal {i} {dna!r} repeats proposal {seen[_key(dna)]}")
        seen[_key(dna)] = i


# Name -> check function `(make_algorithm, space_name) -> None`, raising ConformanceError.
CHECKS = {
    "fits_spec": check_fits_spec,
    "deterministic": check_deterministic,
    "survives_infeasible": check_survives_infeasible,
    "recover": check_recover,
    "no_duplicates": check_no_duplicates,
}


def run_check(check_name: str, make_algorithm: MakeAlgorithm, space_name: str) -> None:
    """Runs one named check on one named space; raises ConformanceError on failure."""
    if check_name not in CHECKS:
        raise ValueError(f"unknown conformance check {check_name!r}; expected one of {list(CHECKS)}")
    if space_name not in SPACES:
        raise ValueError(f"unknown conformance space {space_name!r}; expected one of {list(SPACES)}")
    CHECKS[check_name](make_algorithm, space_name)


def check(make_algorithm: MakeAlgorithm,
          promises_no_duplicates: bool = False,
          spaces: Optional[Sequence[str]] = None,
          skip: Sequence[str] = ()) -> Dict[str, str]:
    """Runs every check on every space; raises ConformanceError listing all failures.

    Args:
        make_algorithm: `seed -> fresh pg.DNAGenerator`.
        promises_no_duplicates: also check that no DNA is proposed twice.
        spaces: names from `SPACES` to run on (default: all). Grid-style
            algorithms that cannot handle floats pass `CATEGORICAL_SPACES`.
        skip: names of checks not to run (document why in your algorithm).

    Returns:
        `{"check/space": "passed" | "skipped"}` when everything passed.

    Example::

        conformance.check(lambda seed: sa.TPE(seed=seed), promises_no_duplicates=True)
    """
    outcome, failures = {}, []
    for check_name in CHECKS:
        for space_name in spaces or SPACES:
            key = f"{check_name}/{space_name}"
            if check_name in skip or (check_name == "no_duplicates" and not promises_no_duplicates):
                outcome[key] = "skipped"
                continue
            try:
                run_check(check_name, make_algorithm, space_name)
                outcome[key] = "passed"
            except ConformanceError as e:
                failures.append(str(e))
    if failures:
        raise ConformanceError(f"{len(failures)} conformance failure(s):\n" + "\n".join(failures))
    return outcome
