"""demos/evonorm_search.py runs offline end to end in a smoke setting (slow: minutes)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demos" / "evonorm_search.py"


@pytest.mark.slow
@pytest.mark.timeout(2400)  # minutes on an idle machine; far more on a loaded one
def test_demo_searches_prints_the_front_and_the_transfer_table(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, str(DEMO), "--max_trials=1", "--population=2", "--tournament=2",
               "--quality_steps=5", "--train_steps=5", "--quality_threshold=0",
               "--baselines=false", "--transfer_seeds=2", "--transfer_steps=2",
               f"--root_dir={tmp_path / 'run'}"]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=2300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert re.search(r"\d+ candidates in \d+ s: 1 trained, \d+ rejected", text), text
    assert "Rejected per stage: no_input" in text
    front = text.split("Pareto front (validation accuracy per anchor):")[1]
    assert re.search(r"#\d+ +[\d.]+ +[\d.]+ +[\d.]+ +\S", front), front
    table = text.split("Transfer to a held-out NAS-Bench-101 network")[1]
    for row in ("BN-ReLU", "EvoNorm-B0", "EvoNorm-S0", "found"):
        assert re.search(rf"  {row} +[\d.]+ ± [\d.]+", table), table
    assert (tmp_path / "run").is_dir()  # the trial store, for resuming
