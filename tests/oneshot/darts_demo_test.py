"""The DARTS search demo runs end to end (slow: a few minutes on 2 CPU cores)."""

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["darts", "gdas"])
def test_demo_derives_retrains_and_prints_a_genotype(algorithm, load_demo, tmp_path, capsys):
    demo = load_demo("darts_search")
    result = demo.main(["--algorithm", algorithm, "--epochs", "1", "--retrain-epochs", "1",
                        "--root-dir", str(tmp_path), "--plot", str(tmp_path / "a.png")])
    output = capsys.readouterr().out
    assert "genotype: Genotype(normal=[" in output
    assert (tmp_path / "a.png").exists()
    completed = [t for t in result.trials if t.status == "completed"]
    assert len(completed) == 1 and "val_accuracy" in completed[0].metrics
