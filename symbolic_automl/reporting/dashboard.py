"""A live, read-only web dashboard of an experiment, served by the standard library.

    symbolic-automl dashboard --root_dir=runs/exp            # http://127.0.0.1:8080
    symbolic-automl dashboard --root_dir=runs/exp --port=0   # any free port

It reads the store through `StoreView` (a read-only SQLite connection, which in
the store's WAL mode neither blocks nor is blocked by the search writing it) and
never writes. The page (one HTML file with its CSS and JS inline, no external
resources) polls a small JSON API and shows new and finished trials without a
reload:

    GET /                       the page
    GET /api/summary            experiment, objectives, status counts, store version
    GET /api/trials?since=G     light rows of trials changed after generation G (all when 0)
    GET /api/trial/<id>         one trial: decisions, metrics, measurements, error, model code
    GET /plot/<name>.png        a plot of `plots.standard_plots` (objective, pareto,
                                decisions, parallel, curves, architecture)

Responses are cached by the store's version (file and WAL mtimes): at 10,000
trials a poll that finds nothing new costs a stat and a filter. Each row carries
the server's generation at which it last changed, so a poll (`since` = the last
`latest` it saw) gets exactly the rows that changed. Plots are redrawn at most
every `plot_interval` seconds. Built on `http.server`: the JSON
API and a static page need no framework, nothing more to install, and nothing
that could reach the network.

Example::

    server = Dashboard("runs/exp").server(port=0)   # an http.server, not yet serving
    threading.Thread(target=server.serve_forever, daemon=True).start()
"""

import http.server
import io
import ipaddress
import json
import math
import os
import re
import threading
import time
import traceback
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple

from absl import logging

from symbolic_automl import trial as trial_lib
from symbolic_automl.reporting import plots as plots_lib
from symbolic_automl.reporting import readable
from symbolic_automl.reporting import store_view

PAGE = os.path.join(os.path.dirname(__file__), "static", "dashboard.html")
# The server re-reads rows changed this long before the latest change it saw: a
# trial's time is taken just before its record commits, and several processes
# may write. Only rows whose content differs count as changed.
OVERLAP_S = 5.0
PLOT_NAMES = ("objective", "pareto", "decisions", "parallel", "curves", "architecture")


def page_html() -> str:
    with open(PAGE, encoding="utf-8") as f:
        return f.read()


def row_json(row: Dict[str, Any], objectives: List[str]) -> Dict[str, Any]:
    """The table's view of a trial row: small, JSON, decisions as name=value text too."""
    error = row.get("error")
    finished, started = row.get("finished"), row.get("started")
    return {
        "id": row["id"], "status": row["status"],
        "objectives": [_number(row["metrics"].get(name)) for name in objectives],
        "decisions": row.get("decisions"),
        "text": readable.format_decisions(row.get("decisions"), 300),
        "error": error.strip().splitlines()[0][:300] if error else None,
        "duration": None if finished is None else round(finished - started, 3),
        "finished": finished, "changed": row["changed"],
    }


def _number(value) -> Optional[float]:
    return float(value) if trial_lib.is_finite_number(value) else None


class Dashboard:
    """The dashboard's data: cached, incremental views of one store.

    Args:
      root_dir: the experiment directory (holds `trials.sqlite`).
      plot_interval: plots are redrawn at most this often (seconds) while trials arrive.
    """

    def __init__(self, root_dir: str, plot_interval: float = 10.0):
        self.root_dir = root_dir
        self.view = store_view.StoreView.in_dir(root_dir)
        self.plot_interval = plot_interval
        self._lock = threading.Lock()
        self._version = None
        self._rows: Dict[int, Dict[str, Any]] = {}
        self._latest_change = 0.0
        self._generation = 0
        self._result = None  # (version, Result) for the plots.
        self._all_rows_json: Optional[bytes] = None
        self._objectives = self.view.meta("objectives") or ["reward"]
        self._directions = self.view.meta("directions") or ["max"] * len(self._objectives)
        # name -> (drawn at, store version, png, seconds it took).
        self._plots: Dict[str, Tuple[float, Any, bytes, float]] = {}
        self._plot_lock = threading.Lock()

    def close(self):
        self.view.close()

    def refresh(self) -> Any:
        """Reads what changed since the last call (nothing, when the store did not change)."""
        with self._lock:
            version = self.view.version()
            if version == self._version:
                return version
            since = self._latest_change - OVERLAP_S if self._rows else 0.0
            generation = self._generation + 1
            changed = False
            for row in self.view.rows(since=since):
                new = row_json(row, self._objectives)
                old = self._rows.get(row["id"])
                if old is not None and all(old[k] == new[k] for k in new):
                    continue
                new["gen"] = generation
                self._rows[row["id"]] = new
                self._latest_change = max(self._latest_change, row["changed"])
                changed = True
            if changed:
                self._generation = generation
                self._all_rows_json = None
            self._version = version
            return version

    def summary(self) -> Dict[str, Any]:
        version = self.refresh()
        counts: Dict[str, int] = {}
        for row in self._rows.values():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return {"experiment": os.path.abspath(self.root_dir), "objectives": self._objectives,
                "directions": self._directions, "counts": counts, "total": len(self._rows),
                "version": "-".join(map(str, version)), "now": time.time(),
                "plots": self.plot_names()}

    def trials_json(self, since: int = 0) -> bytes:
        """`{"rows": [...], "latest": G}`: rows changed after generation `since` (all for 0)."""
        self.refresh()
        with self._lock:
            if not since:
                if self._all_rows_json is None:
                    self._all_rows_json = _dumps({"rows": list(self._rows.values()),
                                                  "latest": self._generation})
                return self._all_rows_json
            rows = [r for r in self._rows.values() if r["gen"] > since]
            return _dumps({"rows": rows, "latest": self._generation})

    def trial(self, trial_id: int) -> Optional[Dict[str, Any]]:
        """Everything about one trial, the model as code."""
        self.refresh()
        rows = self.view.rows(trial_id=trial_id)
        if not rows:
            return None
        row = rows[0]
        measurements = self.view.measurements(trial_id).get(trial_id, [])
        return {
            "id": trial_id, "status": row["status"], "decisions": row["decisions"],
            "metrics": json_safe(row["metrics"]), "reward": json_safe(row["reward"]),
            "error": row["error"], "started": row["started"], "finished": row["finished"],
            "attempts": row["attempts"],
            "measurements": [{"step": m.step, "elapsed": m.elapsed, "metrics": json_safe(m.metrics)}
                             for m in measurements],
            "model": model_code(self.view.model_json(trial_id)),
            "dna": self.view.dna_json(trial_id) if row["decisions"] is None else None,
        }

    def plot_names(self) -> List[str]:
        names = ["objective"]
        if len(self._objectives) > 1:
            names.append("pareto")
        names += ["decisions", "parallel", "curves"]
        if self.view.meta("architecture_history"):
            names.append("architecture")
        return names

    def plot_png(self, name: str) -> bytes:
        """A plot as PNG, redrawn when the store changed and `plot_interval` has passed.

        A plot that takes long to draw (many trials) waits 5 times its drawing
        time between redraws, so a dashboard never spends most of a core on plots.
        """
        if name not in PLOT_NAMES:
            raise KeyError(name)
        version = self.refresh()
        with self._plot_lock:
            cached = self._plots.get(name)
            if cached is not None and (
                    cached[1] == version or
                    time.time() - cached[0] < max(self.plot_interval, 5 * cached[3])):
                return cached[2]
            start = time.time()
            if self._result is None or self._result[0] != version:
                self._result = (version, self.view.result())
            figure = _draw(name, self._result[1])
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            png = buffer.getvalue()
            self._plots[name] = (time.time(), version, png, time.time() - start)
            return png

    def warm_up(self) -> None:
        """Reads the store and draws the plots once, so the first page load is quick."""
        try:
            for name in self.plot_names():
                self.plot_png(name)
        except Exception:  # pylint: disable=broad-except
            logging.warning("dashboard: drawing the plots failed:\n%s", traceback.format_exc())

    def server(self, host: str = "127.0.0.1", port: int = 8080) -> http.server.HTTPServer:
        """A threading HTTP server for this dashboard (call `serve_forever`)."""
        dashboard = self

        class Handler(_Handler):
            app = dashboard

        return _Server((host, port), Handler)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A browser closing a connection mid-response is routine, not worth a traceback.
        logging.debug("dashboard: request from %s failed:\n%s", client_address,
                      traceback.format_exc())


def _draw(name: str, result: trial_lib.Result):
    if name == "objective":
        return plots_lib.plot_objective(result)
    if name == "pareto":
        return plots_lib.plot_pareto(result)
    if name == "decisions":
        return plots_lib.plot_decision_effects(result)
    if name == "parallel":
        return plots_lib.plot_parallel_coordinates(result)
    if name == "curves":
        return plots_lib.plot_learning_curves(result)
    return plots_lib.plot_architecture_history(result.architecture_history)


def model_code(model_json: Optional[str]) -> Optional[str]:
    """The symbolic model as readable code (`pg.format`), or its JSON when it cannot load."""
    if not model_json:
        return None
    import pyglove as pg  # pylint: disable=g-import-not-at-top
    from symbolic_automl import export  # pylint: disable=g-import-not-at-top

    try:
        return pg.format(export.loads(model_json), compact=False, verbose=False)
    except Exception:  # pylint: disable=broad-except
        # A class that is not importable here (or refused as code): show the JSON.
        return json.dumps(json.loads(model_json), indent=1)[:20000]


def json_safe(value):
    """`value` with NaN and infinities as strings (strict JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    app: Dashboard = None
    server_version = "symbolic-automl-dashboard"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        logging.debug("dashboard: " + format, *args)

    def do_GET(self):  # pylint: disable=invalid-name
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        try:
            if url.path in ("/", "/index.html"):
                self._send(200, page_html().encode(), "text/html; charset=utf-8")
            elif url.path == "/api/summary":
                self._send(200, _dumps(self.app.summary()), "application/json")
            elif url.path == "/api/trials":
                since = int(query.get("since", ["0"])[0] or 0)
                self._send(200, self.app.trials_json(since), "application/json")
            elif re.fullmatch(r"/api/trial/\d+", url.path):
                detail = self.app.trial(int(url.path.rsplit("/", 1)[1]))
                if detail is None:
                    self._send(404, b'{"error": "no such trial"}', "application/json")
                else:
                    self._send(200, _dumps(detail), "application/json")
            elif re.fullmatch(r"/plot/\w+\.png", url.path):
                name = url.path[len("/plot/"):-len(".png")]
                if name not in PLOT_NAMES:
                    self._send(404, b"no such plot", "text/plain")
                else:
                    self._send(200, self.app.plot_png(name), "image/png")
            else:
                self._send(404, b"not found", "text/plain")
        except ValueError as e:
            self._send(400, str(e).encode(), "text/plain")
        except Exception:  # pylint: disable=broad-except
            logging.warning("dashboard: %s failed:\n%s", self.path, traceback.format_exc())
            self._send(500, b"internal error (see the dashboard's log)", "text/plain")

    def do_POST(self):  # pylint: disable=invalid-name
        self._send(405, b"read-only dashboard", "text/plain")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _send(self, code: int, body: bytes, content_type: str):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(root_dir: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serves the dashboard until interrupted (Ctrl-C)."""
    dashboard = Dashboard(root_dir)
    server = dashboard.server(host, port)
    if not is_loopback(host):
        logging.warning("The dashboard listens on %s: anyone who can reach this machine "
                        "can read the experiment (it is read-only).", host)
    # Importing matplotlib and drawing the first plot take seconds: not on the first page load.
    threading.Thread(target=dashboard.warm_up, daemon=True).start()
    address = f"http://{host}:{server.server_address[1]}/"
    print(f"Dashboard of {root_dir} (read-only) at {address}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        dashboard.close()
