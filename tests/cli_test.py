"""The `symbolic-automl` command: run, resume, show, export, and its errors."""

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap

import pyglove as pg

SEARCH_FILE = textwrap.dedent("""
    import pyglove as pg

    def experiment():
        return dict(space=pg.Dict(a=pg.oneof([1, 2, 3]), b=pg.floatv(0.0, 1.0)),
                    algorithm=pg.geno.Random(seed=1),
                    evaluator=lambda model, context: {"reward": model.a + model.b},
                    max_trials=4, progress=False)
""")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "symbolic_automl.cli", *args],
                          capture_output=True, text=True, timeout=300)


def test_run_show_resume_export(tmp_path):
    search_file = tmp_path / "search.py"
    search_file.write_text(SEARCH_FILE)
    root = str(tmp_path / "exp")
    run = _cli("run", str(search_file), f"--root_dir={root}")
    assert run.returncode == 0, run.stderr
    assert "4 trials (completed=4)" in run.stdout
    resumed = _cli("resume", str(search_file), f"--root_dir={root}", "--max_trials=6")
    assert resumed.returncode == 0, resumed.stderr
    assert "6 trials (completed=6)" in resumed.stdout
    show = _cli("show", f"--root_dir={root}", "--top=2")
    assert show.returncode == 0 and "Best: trial #" in show.stdout
    output = str(tmp_path / "best.json")
    export = _cli("export", f"--root_dir={root}", f"--output={output}")
    assert export.returncode == 0, export.stderr
    model = json.loads(open(output).read())
    assert set(model) >= {"a", "b"}
    assert pg.from_json_str(open(output).read()).a in (1, 2, 3)


def test_errors_name_the_problem(tmp_path):
    missing = _cli("show", f"--root_dir={tmp_path / 'nothing'}")
    assert missing.returncode != 0 and "does not exist" in missing.stderr + missing.stdout
    bad_command = _cli("explode", f"--root_dir={tmp_path}")
    assert bad_command.returncode != 0 and "Expected a command" in bad_command.stderr
    no_experiment = tmp_path / "bad.py"
    no_experiment.write_text("x = 1\n")
    run = _cli("run", str(no_experiment), f"--root_dir={tmp_path / 'e'}")
    assert run.returncode != 0 and "must define experiment()" in run.stderr


def test_show_export_resume_refuse_a_hostile_store(tmp_path, hostile_pickle):
    search_file = tmp_path / "search.py"
    search_file.write_text(SEARCH_FILE)
    root = tmp_path / "exp"
    assert _cli("run", str(search_file), f"--root_dir={root}").returncode == 0
    db = sqlite3.connect(os.path.join(root, "trials.sqlite"))
    # Every trial's model carries the pickle, so `best` does too.
    db.execute("UPDATE trials SET model=?", (json.dumps({"a": 1, "b": hostile_pickle.json()}),))
    db.commit()
    output = tmp_path / "best.json"
    export = _cli("export", f"--root_dir={root}", f"--output={output}")
    assert export.returncode == 1 and "Traceback" not in export.stderr
    assert ("recorded model cannot be loaded: Refusing to load $.b: it is a pickled Python "
            "object") in export.stderr
    assert not output.exists()
    dna_tag = pg.to_json(pg.DNA(0))["_type"]
    db.execute("UPDATE trials SET dna=?", (json.dumps({"_type": dna_tag,
                                                       "value": hostile_pickle.json()}),))
    db.commit()
    db.close()
    # `show` lists the recorded decisions (plain JSON) and never decodes a DNA.
    show = _cli("show", f"--root_dir={root}")
    assert show.returncode == 0 and "Best: trial #" in show.stdout, show.stderr
    resume = _cli("resume", str(search_file), f"--root_dir={root}", "--max_trials=6")
    assert resume.returncode == 1
    assert "Refusing to load $.value: it is a pickled" in resume.stderr
    assert not hostile_pickle.marker.exists()


def test_show_names_decisions_by_value_from_the_store(tmp_path):
    import symbolic_automl as sa
    from symbolic_automl import cli

    root = str(tmp_path / "exp")
    space = pg.Dict(layers=[pg.Dict(filters=pg.oneof([16, 32])),
                            pg.Dict(act=pg.oneof(["relu", "swish"]))],
                    learning_rate=pg.floatv(1e-3, 1e-1))
    sa.search(space, algorithm=pg.geno.Random(seed=1), max_trials=3, root_dir=root,
              evaluator=lambda model, context: {"reward": model.layers[0].filters},
              progress=False)
    store = sa.TrialStore.in_dir(root)
    try:
        text = cli.show(store, top=3)
    finally:
        store.close()
    # Short unique names (`filters`, not `layers[0].filters`) and values, not indices.
    assert "DNA(" not in text and "layers[0]" not in text
    assert re.search(r"filters=(16|32), act=(relu|swish), learning_rate=0\.\d+", text), text
