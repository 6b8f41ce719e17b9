"""`write_report`: the dashboard's content as one self-contained HTML file.

The page is the dashboard's own (same table, plots, trial details), with the
data embedded as JSON and the plots as base64 PNGs: it opens with no network
and no server, for a paper's appendix or a colleague.

    symbolic-automl report --root_dir=runs/exp --output=report.html

Example::

    write_report("runs/exp", "report.html")
"""

import base64
import io
import json
import os

from symbolic_automl.reporting import dashboard as dashboard_lib

# Trials whose symbolic model is written out as code (the best ones), so a
# report of 10,000 trials stays a few MB.
MODELS_SHOWN = 50
_MARKER = '<script>\n"use strict";'


def report_data(root_dir: str, models_shown: int = MODELS_SHOWN) -> dict:
    """What the page shows, as JSON-friendly data (plots as data: URIs)."""
    board = dashboard_lib.Dashboard(root_dir)
    try:
        summary = board.summary()
        rows = json.loads(board.trials_json(0.0))["rows"]
        result = board.view.result()
        best_ids = {t.id for t in result.top(models_shown)}
        measurements = board.view.measurements()
        details = {}
        for trial in result.trials:
            details[trial.id] = {
                "id": trial.id, "status": trial.status, "decisions": trial.decisions,
                "metrics": dashboard_lib.json_safe(trial.metrics),
                "reward": dashboard_lib.json_safe(trial.reward), "error": trial.error,
                "started": trial.started, "finished": trial.finished,
                "attempts": trial.attempts,
                "measurements": [{"step": m.step, "elapsed": m.elapsed,
                                  "metrics": dashboard_lib.json_safe(m.metrics)}
                                 for m in measurements.get(trial.id, [])],
                "model": (dashboard_lib.model_code(trial.model_json) if trial.id in best_ids
                          else None),
                "dna": trial.dna_json if trial.decisions is None else None,
            }
        plots = {}
        for name in summary["plots"]:
            figure = dashboard_lib._draw(name, result)  # pylint: disable=protected-access
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            plots[name] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    finally:
        board.close()
    return {"summary": summary, "rows": rows, "details": details, "plots": plots}


def report_html(root_dir: str) -> str:
    page = dashboard_lib.page_html()
    if _MARKER not in page:
        raise RuntimeError(f"{dashboard_lib.PAGE} lost its script marker {_MARKER!r}.")
    data = json.dumps(report_data(root_dir), separators=(",", ":"), allow_nan=False)
    # Inside <script>, "</" could close the element early.
    data = data.replace("</", "<\\/")
    return page.replace(_MARKER, f"<script>window.REPORT_DATA = {data};</script>\n{_MARKER}", 1)


def write_report(root_dir: str, output: str) -> str:
    """Writes the report of the experiment in `root_dir` to `output`; returns the path."""
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        f.write(report_html(root_dir))
    return output
