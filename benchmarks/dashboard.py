"""Dashboard page load and refresh time at 100 and 10,000 trials (synthetic stores).

For each size: a synthetic store (4 decisions, 3 epochs of measurements per
trial, 5% failed), the dashboard served on a free port, then
  - server side: the JSON API cold and cached, a poll that finds nothing new, a
    poll after one more trial finished, each plot drawn cold;
  - in headless Chromium (when installed): page load until the table and the
    objective plot are shown (cold: the server's first read of the store and
    first plot included); a new trial written to the store until it shows
    in the page (polling every 200 ms); a sort of the whole table by objective.
Prints milliseconds and the 10,000 / 100 ratio.

    python benchmarks/dashboard.py [--sizes=100,10000] [--screenshot=docs/dashboard.png]
"""

import json
import os
import random
import shutil
import sqlite3
import tempfile
import threading
import time
import urllib.request

from absl import app
from absl import flags

from symbolic_automl import storage
from symbolic_automl.reporting import dashboard as dashboard_lib

_SIZES = flags.DEFINE_list("sizes", ["100", "10000"], "Store sizes (trials).")
_SCREENSHOT = flags.DEFINE_string("screenshot", None, "Also save a screenshot of the "
                                  "dashboard of the smallest store here (png).")
_REPORT = flags.DEFINE_string("report", None, "Also write the smallest store's HTML report here.")

ACTIVATIONS = ("relu", "swish", "gelu", "tanh")


def _trial_row(i, rng, now):
    units, activation = rng.choice([16, 32, 64, 128]), rng.choice(ACTIVATIONS)
    lr, depth = 10 ** rng.uniform(-4, -1), rng.randint(1, 8)
    decisions = {"units": units, "activation": activation, "learning_rate": lr, "depth": depth}
    accuracy = (0.5 + 0.1 * (units / 128) + 0.05 * (activation == "swish") - 0.4 * abs(
        lr - 0.003) + 0.01 * depth + rng.gauss(0, 0.02))
    failed = rng.random() < 0.05
    status = "failed" if failed else ("stopped" if rng.random() < 0.1 else "completed")
    metrics = {} if failed else {"val_accuracy": accuracy, "params": units * depth * 100}
    model = json.dumps({"_type": "pyglove.core.symbolic.dict.Dict", **decisions})
    curve = [] if failed else [(e, {"val_accuracy": accuracy * (0.6 + 0.4 * e / 3)})
                               for e in range(1, 4 if status == "completed" else 2)]
    row = (i, json.dumps({"_type": "pyglove.core.geno.base.DNA", "value": [i]}), status,
           model, json.dumps(metrics), None if failed else json.dumps(accuracy),
           "RuntimeError: synthetic failure" if failed else None, now - 1, now - 1, now, 1,
           json.dumps(decisions))
    return row, curve


def make_store(root, n, seed=0):
    """A store of `n` finished trials, written in one transaction."""
    store = storage.TrialStore.in_dir(root)
    for key, value in (("objectives", ["val_accuracy"]), ("directions", ["max"]),
                       ("created", time.time())):
        store.set_meta(key, value)
    store.close()
    add_trials(root, range(1, n + 1), seed)


def add_trials(root, ids, seed=0):
    rng = random.Random(seed + min(ids))
    db = sqlite3.connect(os.path.join(root, storage.FILENAME), isolation_level=None)
    db.execute("BEGIN")
    ids = list(ids)
    for i in ids:
        # Trials finished one a second, up to now (a search of hours, not one instant).
        row, curve = _trial_row(i, rng, time.time() - (ids[-1] - i))
        db.execute("INSERT INTO trials (id, dna, status, model, metrics, reward, error, created,"
                   " started, finished, attempts, decisions) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   row)
        db.executemany("INSERT INTO measurements VALUES (?, ?, ?, ?)",
                       [(i, step, step * 0.1, json.dumps(m)) for step, m in curve])
    db.execute("COMMIT")
    db.close()


def _ms(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1000 * best


def _get(url):
    return urllib.request.urlopen(url).read()


def _browser():
    try:
        from selenium import webdriver  # pylint: disable=g-import-not-at-top
        from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top
    except ImportError:
        return None
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def _wait(condition, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise TimeoutError("the page did not get there")


def _load(browser, url):
    """Opens the page; returns once the table and the objective plot are shown."""
    browser.get(url)
    _wait(lambda: browser.execute_script(
        "const i = document.getElementById('plot-objective');"
        "return document.querySelectorAll('#rows tr.trial').length > 0 &&"
        " i && i.complete && i.naturalWidth > 0;"))


def measure(n, browser, screenshot=None, report=None):
    root = tempfile.mkdtemp(prefix=f"dashboard_bench_{n}_")
    make_store(root, n)
    board = dashboard_lib.Dashboard(root)
    server = board.server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    figures = {}
    try:
        if browser is not None:
            figures["browser: page load, cold server (ms)"] = _ms(lambda: _load(browser, url))
            board._all_rows_json = None  # pylint: disable=protected-access
            board._rows.clear()  # pylint: disable=protected-access
            board._version = None  # pylint: disable=protected-access
        figures["api/trials cold (ms)"] = _ms(lambda: _get(url + "api/trials"))
        figures["api/trials cached (ms)"] = _ms(lambda: _get(url + "api/trials"), 5)
        figures["api/trials size (kB)"] = len(_get(url + "api/trials")) / 1000
        latest = json.loads(_get(url + "api/trials"))["latest"]
        figures["poll, nothing new (ms)"] = _ms(
            lambda: (_get(url + "api/summary"), _get(url + f"api/trials?since={latest}")), 5)
        add_trials(root, [n + 1])
        figures["poll, one new trial (ms)"] = _ms(
            lambda: (_get(url + "api/summary"), _get(url + f"api/trials?since={latest}")))
        figures["read all trials for plots (ms)"] = _ms(board.view.result)
        for name in ("objective", "decisions", "parallel", "curves"):
            board._plots.clear()  # pylint: disable=protected-access
            figures[f"draw plot {name} (ms)"] = _ms(lambda name=name: board.plot_png(name))
        if browser is not None:
            figures["browser: page load (ms)"] = _ms(lambda: _load(browser, url), 3)
            browser.execute_script("window.POLL_MS = 200;")
            time.sleep(2.5)  # The poll already scheduled was set for 2 s.
            new_id = n + 2
            start = time.perf_counter()
            add_trials(root, [new_id])
            _wait(lambda: browser.execute_script(
                f"return state.rows.has({new_id}) && document.getElementById('page-info')"
                f".textContent.includes('of {new_id} trials');"))
            figures["browser: new trial shown (ms, 200 ms polls)"] = 1000 * (
                time.perf_counter() - start)
            figures["browser: sort all rows (ms)"] = browser.execute_script(
                "const t = performance.now();"
                "document.querySelector('#head th[data-key=obj0]').click();"
                "return performance.now() - t;")
            if screenshot:
                browser.execute_script(
                    "document.querySelector('#rows tr.trial[data-status=completed]').click();")
                _wait(lambda: browser.find_elements("id", "model"))
                time.sleep(0.5)
                browser.save_screenshot(screenshot)
        if report:
            from symbolic_automl.reporting import report as report_lib  # pylint: disable=g-import-not-at-top

            figures["report write (ms)"] = _ms(lambda: report_lib.write_report(root, report))
    finally:
        server.shutdown()
        board.close()
        shutil.rmtree(root, ignore_errors=True)
    return figures


def main(argv):
    del argv
    sizes = [int(s) for s in _SIZES.value]
    browser = _browser()
    if browser is None:
        print("No selenium + chromium + chromedriver: browser rows skipped.")
    try:
        results = {n: measure(n, browser, _SCREENSHOT.value if n == min(sizes) else None,
                              _REPORT.value if n == min(sizes) else None) for n in sizes}
    finally:
        if browser is not None:
            browser.quit()
    names = list(results[sizes[0]])
    print(f"\nDashboard on synthetic stores ({', '.join(map(str, sizes))} trials)")
    print(f"{'':<46}" + "".join(f"{n:>12}" for n in sizes) + f"{'ratio':>10}")
    for name in names:
        values = [results[n].get(name) for n in sizes]
        ratio = (f"{values[-1] / values[0]:>10.1f}" if values[0] and values[-1] is not None
                 else f"{'':>10}")
        print(f"{name:<46}" + "".join(f"{v:>12.1f}" if v is not None else f"{'':>12}"
                                      for v in values) + ratio)


if __name__ == "__main__":
    app.run(main)
