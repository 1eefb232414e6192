"""lg.reporting.plots: the methods pages' chart helpers draw what they are given, wide enough to read."""
import json

import numpy as np
import pandas as pd
import pytest

from latentgeom.reporting import plots

FRAME = pd.DataFrame({"truth": [1.0, 2.0, 4.0] * 2, "estimate": [1.1, 1.9, 4.2, 0.5, 1.0, 2.0],
                      "series": ["a"] * 3 + ["b"] * 3, "style": ["x", "y", "x", "y", "x", "y"],
                      "err": [0.1] * 6})


def _spec(chart):
    return chart.to_dict()


def test_vs_truth_draws_the_diagonal_and_a_log_scale():
    spec = _spec(plots.vs_truth(FRAME, "truth", "estimate", "series", title="t", x_title="x", y_title="y"))
    assert spec["width"] >= 300 and len(spec["layer"]) == 2
    diagonal = spec["layer"][0]
    assert diagonal["mark"]["strokeDash"] == [4, 3]
    assert spec["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"


def test_line_chart_reference_dash_and_hollow():
    curve = pd.DataFrame({"truth": [1.0, 4.0], "estimate": [1.0, 4.0]})
    spec = _spec(plots.line_chart(FRAME, "truth", "estimate", "series", dash="style", hollow="b", reference=curve,
                                  log_x=True, title="t", x_title="x", y_title="y"))
    assert "solid: x" in spec["title"] and "dashed: y" in spec["title"]
    text = json.dumps(spec)
    assert spec["layer"][0]["mark"]["color"] == "gray"  # the reference curve, under the data
    assert '"filled": false' in text and "datum['series'] === 'b'" in text  # series b: hollow points
    rule = _spec(plots.line_chart(FRAME, "truth", "estimate", "series", reference=1.0, title="t", x_title="x",
                                  y_title="y"))
    assert rule["layer"][0]["mark"]["type"] == "rule"
    axis = rule["layer"][1]["encoding"]["x"]
    assert axis["scale"].get("type") != "log"


def test_errorbar_chart():
    spec = _spec(plots.errorbar_chart(FRAME.rename(columns={"truth": "relative_depth"}).assign(
        relative_depth=lambda f: f.relative_depth / 4), y="estimate", err="err", color="series"))
    assert spec["layer"][1]["mark"]["type"] == "errorbar"
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 1]


@pytest.mark.parametrize("call,match", [
    (lambda: plots.vs_truth(FRAME, "truth", "missing", "series", title="t", x_title="x", y_title="y"), "missing"),
    (lambda: plots.line_chart(FRAME, "truth", "estimate", "series", width=200, title="t", x_title="x", y_title="y"),
     "width must be >= 300"),
    (lambda: plots.line_chart(FRAME.assign(style=np.arange(6)), "truth", "estimate", "series", dash="style",
                              title="t", x_title="x", y_title="y"), "at most 3"),
    (lambda: plots.errorbar_chart(FRAME, "truth", "estimate", "nope"), "nope"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
