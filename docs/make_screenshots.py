"""Regenerates docs/dashboard.png and docs/hparams.png (needs chromium, chromedriver, selenium).

    python docs/make_screenshots.py

A small tabular search (fake training curves, a few failures) runs into a
temporary directory with `tensorboard_dir=...`; the dashboard and TensorBoard's
HParams tab are then shot in headless Chromium.
"""

import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pyglove as pg

import symbolic_automl as sa
from symbolic_automl import algorithms
from symbolic_automl.reporting import dashboard as dashboard_lib

DOCS = os.path.dirname(os.path.abspath(__file__))
SPACE = pg.Dict(filters=pg.oneof([16, 32, 64]), kernel_size=pg.oneof([3, 5]),
                activation=pg.oneof(["relu", "swish", "gelu"]),
                learning_rate=pg.floatv(1e-4, 1e-1, scale="log"))


def evaluate(model, context):
    if model.activation == "gelu" and model.learning_rate > 0.05:
        raise FloatingPointError("loss is NaN after 2 epochs")
    rng = random.Random(hash((model.filters, model.kernel_size, model.learning_rate)))
    final = (0.80 + 0.05 * math.log2(model.filters / 16) + 0.01 * (model.kernel_size == 5)
             + 0.02 * (model.activation == "swish")
             - 0.03 * abs(math.log10(model.learning_rate) + 2.5) + rng.gauss(0, 0.01))
    for epoch in range(1, 9):
        context.report(epoch, {"val_accuracy": final * (1 - 0.5 * math.exp(-epoch / 2))})
        if context.should_stop():
            break
    return {"val_accuracy": final, "params": model.filters * model.kernel_size ** 2 * 10}


def _browser(width, height):
    from selenium import webdriver  # pylint: disable=g-import-not-at-top
    from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def _wait_for(url, timeout):
    import urllib.request  # pylint: disable=g-import-not-at-top

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def main():
    work = tempfile.mkdtemp(prefix="screenshots_")
    root, logdir = os.path.join(work, "exp"), os.path.join(work, "tb")
    sa.search(SPACE, algorithm=pg.evolution.regularized_evolution(population_size=8,
                                                                  tournament_size=3, seed=2),
              evaluator=evaluate, objective="val_accuracy", max_trials=40, root_dir=root,
              progress=False, max_consecutive_failures=100,
              early_stopping=algorithms.early_stopping.SuccessiveHalving(
                  min_resource=2, eta=2, max_resource=8),
              tensorboard_dir=logdir)
    board = dashboard_lib.Dashboard(root)
    server = board.server(port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = _browser(1400, 1100)
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        deadline = time.time() + 120
        while time.time() < deadline and not browser.execute_script(
                "const images = [...document.querySelectorAll('#plots img')];"
                "return images.length >= 4 && images.every(i => i.complete && i.naturalWidth);"):
            time.sleep(0.5)
        # Best first.
        browser.execute_script("document.querySelector('#head th[data-key=obj0]').click();")
        browser.save_screenshot(os.path.join(DOCS, "dashboard.png"))
        tensorboard = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "tensorboard"), "--logdir", logdir,
             "--port", "6077", "--host", "127.0.0.1", "--load_fast=false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for("http://127.0.0.1:6077/", 120)
            time.sleep(5)  # TensorBoard reads the logdir after it starts serving.
            browser.set_window_size(1500, 900)
            browser.get("http://127.0.0.1:6077/#hparams")
            time.sleep(12)
            browser.save_screenshot(os.path.join(DOCS, "hparams.png"))
        finally:
            tensorboard.terminate()
            tensorboard.wait(timeout=30)
    finally:
        browser.quit()
        server.shutdown()
        board.close()
        shutil.rmtree(work, ignore_errors=True)
    print("Wrote", os.path.join(DOCS, "dashboard.png"), "and", os.path.join(DOCS, "hparams.png"))


if __name__ == "__main__":
    main()
