"""The live dashboard in a real headless browser, its read-only store access, and the report."""

import json
import os
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import pyglove as pg
import pytest

import symbolic_automl as sa
from symbolic_automl.reporting import dashboard as dashboard_lib
from symbolic_automl.reporting import report as report_lib

SPACE = pg.Dict(units=pg.oneof([16, 32, 64]), activation=pg.oneof(["relu", "tanh"]),
                lr=pg.floatv(0.001, 0.1))
TRIALS = 14


def make_evaluator(delay, gate=None, held_trial=4):
    """Trials take `delay` s; trial `held_trial` waits for `gate` (when given) to be set."""
    def evaluate(model, context):
        if gate is not None and context.trial_id == held_trial:
            assert gate.wait(timeout=120), "the test never let the held trial finish"
        if model.units == 16 and model.activation == "tanh":
            raise RuntimeError("16 tanh units diverge")
        for epoch in range(1, 4):
            context.report(epoch, {"accuracy": epoch * model.units / 300 + model.lr})
            time.sleep(delay / 3)
        return {"accuracy": model.units / 100 + model.lr}
    return evaluate


def run_search(root, delay, gate=None):
    return sa.search(SPACE, algorithm=pg.geno.Random(seed=7), evaluator=make_evaluator(delay, gate),
                     objective="accuracy", max_trials=TRIALS, root_dir=root, progress=False,
                     max_consecutive_failures=100)


def outcome(result):
    return [(t.id, t.status, t.decisions, t.reward, t.metrics) for t in result.trials]


def _has_trials(root):
    from symbolic_automl.reporting import store_view  # pylint: disable=g-import-not-at-top

    try:
        view = store_view.StoreView.in_dir(root)
    except sa.StoreError:
        return False  # Not there, or not initialized yet.
    try:
        return view.count() > 0
    finally:
        view.close()


def _serve(root):
    board = dashboard_lib.Dashboard(root, plot_interval=0.5)
    server = board.server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return board, server, f"http://127.0.0.1:{server.server_address[1]}/"


def _wait(condition, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")


def test_browser_sees_a_running_search_update_without_reload(browser, tmp_path):
    from selenium.webdriver.common.by import By

    root = str(tmp_path / "live")
    box = {}
    gate = threading.Event()
    search = threading.Thread(
        target=lambda: box.setdefault("result", run_search(root, 0.15, gate)))
    search.start()
    _wait(lambda: _has_trials(root), what="the store's first trial")
    board, server, url = _serve(root)
    try:
        browser.get(url)
        browser.execute_script("window.POLL_MS = 250; window.loadedOnce = 'yes';")
        # Read through JS: the table is redrawn as trials arrive (elements go stale).
        rows = lambda: browser.execute_script(  # noqa: E731
            "return [...document.querySelectorAll('#rows tr.trial')]"
            ".map(r => [Number(r.dataset.id), r.dataset.status]);")
        _wait(lambda: len(rows()) >= 1, what="the trial table")
        headers = browser.execute_script(
            "return [...document.querySelectorAll('#head th')].map(th => th.textContent);")
        assert headers[:3] == ["# ▲", "status", "accuracy"] and "decisions" in headers
        _wait(lambda: browser.execute_script(
            "const i = document.getElementById('plot-objective');"
            "return i && i.complete && i.naturalWidth > 100;"), what="the objective plot")
        # Trial 4 is held running until the page has shown it running.
        _wait(lambda: [4, "running"] in rows(), what="the running trial 4")
        assert len(rows()) == 4
        gate.set()
        _wait(lambda: [4, "running"] not in rows() and len(rows()) > 4,
              what="trial 4 finished and newer trials")
        assert browser.execute_script("return window.loadedOnce;") == "yes"  # No reload.
        text = browser.execute_script("return document.getElementById('rows').textContent;")
        assert "units=" in text and "activation=" in text and "DNA(" not in text
        # A trial's details: decisions, metrics, learning curve, model as code.
        browser.execute_script(
            "document.querySelector('#rows tr.trial[data-status=completed]').click();")
        _wait(lambda: browser.find_elements(By.ID, "model"), what="the trial's details")
        detail = browser.execute_script("return document.getElementById('detail').textContent;")
        assert "Decisions" in detail and "units" in detail and "accuracy" in detail
        model = browser.execute_script("return document.getElementById('model').textContent;")
        assert "units =" in model  # pg.format of the symbolic model.
        assert browser.find_elements(By.CSS_SELECTOR, "#curve svg.curve polyline")
        browser.save_screenshot(str(tmp_path / "dashboard.png"))
        assert (tmp_path / "dashboard.png").stat().st_size > 10000
        search.join(timeout=120)
        assert "result" in box, "the search did not finish with the dashboard open"
        # The page catches up with the end of the search, still without reload.
        _wait(lambda: len(rows()) == TRIALS and all(s != "running" for _, s in rows()),
              what="all trials")
        browser.execute_script("const s = document.getElementById('status-filter');"
                               "s.value = 'failed'; s.onchange();")
        shown = {s for _, s in rows()}
        failed = box["result"].count("failed")
        assert (shown == {"failed"}) if failed else not shown
    finally:
        server.shutdown()
        board.close()
    # The same search without a dashboard gives the same trials.
    alone = run_search(str(tmp_path / "alone"), 0.0)
    assert outcome(alone) == outcome(box["result"])


def test_dashboard_store_access_is_read_only(tmp_path):
    root = str(tmp_path / "exp")
    run_search(root, 0.0)
    path = os.path.join(root, "trials.sqlite")
    before = open(path, "rb").read()
    board, server, url = _serve(root)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            board.view.connection.execute("UPDATE trials SET status='completed'")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            board.view.connection.execute("INSERT INTO meta VALUES ('x', '1')")
        summary = json.loads(urllib.request.urlopen(url + "api/summary").read())
        assert summary["total"] == TRIALS
        rows = json.loads(urllib.request.urlopen(url + "api/trials").read())["rows"]
        assert [r["id"] for r in rows] == list(range(1, TRIALS + 1))
        for name in summary["plots"]:
            png = urllib.request.urlopen(url + f"plot/{name}.png").read()
            assert png[:4] == b"\x89PNG"
        detail = json.loads(urllib.request.urlopen(url + "api/trial/3").read())
        assert set(detail["decisions"]) == {"units", "activation", "lr"}
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(urllib.request.Request(url + "api/trials", data=b"x"))
        assert error.value.code == 405
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(url + "api/trial/999")
        assert error.value.code == 404
    finally:
        server.shutdown()
        board.close()
    assert open(path, "rb").read() == before


def test_incremental_rows_only_carry_what_changed(tmp_path):
    root = str(tmp_path / "exp")
    run_search(root, 0.0)
    board = dashboard_lib.Dashboard(root)
    try:
        everything = json.loads(board.trials_json(0))
        assert [r["id"] for r in everything["rows"]] == list(range(1, TRIALS + 1))
        latest = everything["latest"]
        assert json.loads(board.trials_json(latest))["rows"] == []
        # The same search resumed for 3 more trials: a poll gets those 3 only.
        sa.search(SPACE, algorithm=pg.geno.Random(seed=7), evaluator=make_evaluator(0.0),
                  objective="accuracy", max_trials=TRIALS + 3, root_dir=root, progress=False,
                  max_consecutive_failures=100)
        update = json.loads(board.trials_json(latest))
        assert [r["id"] for r in update["rows"]] == [TRIALS + 1, TRIALS + 2, TRIALS + 3]
        assert all(r["status"] != "running" for r in update["rows"])
        assert json.loads(board.trials_json(update["latest"]))["rows"] == []
    finally:
        board.close()


def test_dashboard_binds_to_localhost_by_default():
    assert dashboard_lib.serve.__defaults__[0] == "127.0.0.1"
    assert dashboard_lib.is_loopback("127.0.0.1") and dashboard_lib.is_loopback("localhost")
    assert not dashboard_lib.is_loopback("0.0.0.0")


def test_report_is_self_contained_and_opens_without_network(browser, tmp_path):
    from selenium.webdriver.common.by import By

    root = str(tmp_path / "exp")
    result = run_search(root, 0.0)
    output = str(tmp_path / "report.html")
    report_lib.write_report(root, output)
    html = open(output, encoding="utf-8").read()
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # The SVG namespace's name only.
    assert not re.search(r"<(link|iframe)\b|\bsrc=[\"'](?!data:)", html)
    browser.get("file://" + output)
    rows = browser.find_elements(By.CSS_SELECTOR, "#rows tr.trial")
    assert len(rows) == TRIALS
    assert browser.execute_script(
        "return [...document.querySelectorAll('#plots img')].every("
        "i => i.complete && i.naturalWidth > 100 && i.src.startsWith('data:image/png'));")
    best = result.best
    browser.find_element(By.CSS_SELECTOR, f"#rows tr.trial[data-id='{best.id}']").click()
    assert f"units = {best.model.units}" in browser.find_element(By.ID, "model").text


def test_cli_report_and_dashboard_commands(tmp_path):
    import subprocess  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top

    root = str(tmp_path / "exp")
    run_search(root, 0.0)
    output = str(tmp_path / "out" / "report.html")
    made = subprocess.run([sys.executable, "-m", "symbolic_automl.cli", "report",
                           f"--root_dir={root}", f"--output={output}"],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    assert "window.REPORT_DATA" in open(output, encoding="utf-8").read()
    server = subprocess.Popen([sys.executable, "-m", "symbolic_automl.cli", "dashboard",
                               f"--root_dir={root}", "--port=0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        address = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert address, line  # Bound to localhost unless --host says otherwise.
        summary = json.loads(urllib.request.urlopen(address.group(0) + "api/summary").read())
        assert summary["total"] == TRIALS
    finally:
        server.terminate()
        server.wait(timeout=30)
