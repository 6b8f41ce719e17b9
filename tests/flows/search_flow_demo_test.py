"""The search-flow demo runs end to end on a tiny setting (slow: TensorFlow trains a few models)."""

import pytest


@pytest.mark.slow
def test_demo_prints_outer_trials_their_inner_bests_and_the_trade_off(
        load_demo, tmp_path, capsys):
    demo = load_demo("search_flow")
    result = demo.main(["--inner-trials", "2", "--epochs", "1", "--resolutions", "8,12",
                        "--budgets", "20,320", "--root-dir", str(tmp_path),
                        "--plot", str(tmp_path / "curve.png")])
    output = capsys.readouterr().out
    assert len(result.trials) == 4 and (tmp_path / "curve.png").exists()
    assert "Trade-off curve" in output and "Pareto front" in output
    for outer in result.trials:
        search = result.inner(outer)
        # Everything trained fits its outer budget; the space was pruned by it.
        assert all(t.metrics["kmacs"] <= outer.decisions["max_kmacs"] for t in search.rewarded)
        assert outer.status == "completed"
        best = search.best
        assert outer.reward == best.reward
        assert f"{outer.reward:.4f}" in output and best.describe_decisions(70) in output
