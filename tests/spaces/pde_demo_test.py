"""The XD-on-Burgers demo runs end to end in its --quick mode (slow: about a minute)."""

import os

import pytest


@pytest.mark.slow
def test_demo_trains_cnn_xd_and_fno_and_prints_the_table(load_demo, tmp_path, capsys):
    demo = load_demo("xd_pde")
    results = demo.main(["--quick", "--cache_dir", str(tmp_path)])
    output = capsys.readouterr().out
    assert "test rel. L2" in output
    assert list(results) == ["cnn", "xd", "fno"]
    for name, result in results.items():
        assert 0 < result["test_relative_l2"] < 10, (name, result)
        assert result["seconds_per_epoch"] > 0
        assert f"\n{name} " in output
    assert len(os.listdir(tmp_path)) == 1  # the data were cached there
