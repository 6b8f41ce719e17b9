"""demos/plugin_algorithm.py: the plug-in passes conformance and runs a real search."""

import pytest

from symbolic_automl.algorithms import conformance


@pytest.mark.parametrize("check_name", list(conformance.CHECKS))
def test_simulated_annealing_passes_conformance(check_name, load_demo):
    demo = load_demo("plugin_algorithm")
    conformance.run_check(check_name, lambda seed: demo.SimulatedAnnealing(seed=seed),
                          "conditional")


def test_simulated_annealing_accepts_better_and_cools(load_demo):
    import pyglove as pg
    algorithm = load_demo("plugin_algorithm").SimulatedAnnealing(seed=0, temperature=1.0, cooling=0.5)
    algorithm.setup(pg.dna_spec(conformance.SPACES["categorical"]()))
    first = algorithm.propose()
    algorithm.feedback(first, 0.5)
    assert algorithm._current_reward == 0.5 and algorithm._t == 0.5
    second = algorithm.propose()
    # A mutation changes at most one decision of the current DNA.
    assert sum(a != b for a, b in zip(first.to_numbers(), second.to_numbers())) <= 1
    algorithm.feedback(second, 0.9)
    assert algorithm._current_reward == 0.9


@pytest.mark.slow
def test_demo_runs_a_real_keras_search(load_demo, tmp_path):
    result = load_demo("plugin_algorithm").main(max_trials=4, root_dir=str(tmp_path))
    assert len(result.trials) == 4
    assert all(t.status == "completed" for t in result.trials)
    assert result.best.reward > 0.3  # 10 classes: far above chance after 1 epoch.
