"""The DARTS search demo runs end to end (slow: a few minutes on 2 CPU cores)."""

import importlib.util
import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demos" / "darts_search.py"


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["darts", "gdas"])
def test_demo_derives_retrains_and_prints_a_genotype(algorithm, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("darts_search_demo", DEMO)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    result = demo.main(["--algorithm", algorithm, "--epochs", "1", "--retrain-epochs", "1",
                        "--root-dir", str(tmp_path), "--plot", str(tmp_path / "a.png")])
    output = capsys.readouterr().out
    assert "genotype: Genotype(normal=[" in output
    assert (tmp_path / "a.png").exists()
    completed = [t for t in result.trials if t.status == "completed"]
    assert len(completed) == 1 and "val_accuracy" in completed[0].metrics
