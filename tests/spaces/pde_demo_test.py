"""The XD-on-Burgers demo runs end to end in its --quick mode (slow: about a minute)."""

import importlib.util
import os
import pathlib

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demos" / "xd_pde.py"


@pytest.mark.slow
def test_demo_trains_cnn_xd_and_fno_and_prints_the_table(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("xd_pde_demo", DEMO)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    results = demo.main(["--quick", "--cache_dir", str(tmp_path)])
    output = capsys.readouterr().out
    assert "test rel. L2" in output
    assert list(results) == ["cnn", "xd", "fno"]
    for name, result in results.items():
        assert 0 < result["test_relative_l2"] < 10, (name, result)
        assert result["seconds_per_epoch"] > 0
        assert f"\n{name} " in output
    assert len(os.listdir(tmp_path)) == 1  # the data were cached there
