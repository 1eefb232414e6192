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


# --------------------------------------------------------------------------------------------
# What a reader gets: interactive charts that draw offline, readable sizes, tooltips on every
# mark, stage marks, the paper's values.

STAGES = pd.DataFrame({"relative_depth": np.tile([0.0, 0.5, 1.0], 3), "mapc": np.arange(1, 10) / 10,
                       "label": np.repeat(["vgg w8", "vgg w8 @ep1", "resnet w8"], 3),
                       "model": np.repeat(["vgg", "vgg", "resnet"], 3), "layer": ["in", "mid", "out"] * 3,
                       "stage": np.repeat(["final", "checkpoint", "final"], 3),
                       "test_accuracy": np.repeat([0.9, 0.8, 0.85], 3)})


def _layers(spec):
    """Every single-view spec inside a (layered, concatenated, faceted) spec."""
    if "layer" in spec:
        for layer in spec["layer"]:
            yield from _layers(layer)
    elif "concat" in spec:
        for part in spec["concat"]:
            yield from _layers(part)
    elif "spec" in spec:
        yield from _layers(spec["spec"])
    else:
        yield spec


def _params(spec):
    """Every parameter anywhere in a spec (altair lifts a layer's parameters to the top)."""
    if isinstance(spec, dict):
        yield from spec.get("params", [])
        for value in spec.values():
            yield from _params(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from _params(value)


def _mark(layer):
    mark = layer["mark"]
    return mark if isinstance(mark, str) else mark["type"]


ALL_CHARTS = [
    lambda: plots.profile_chart(STAGES, color="label", title="t",
                                paper=[plots.paper_range("paper: plateau", 0.03, 0.25, x=0.1, x2=0.9)]),
    lambda: plots.scatter_with_fit(STAGES, "mapc", "test_accuracy", color="model",
                                   paper=[plots.paper_range("paper: CIFAR-10 VGG", 0.937, 0.944, x=5, x2=5.7)]),
    lambda: plots.bar_chart(pd.DataFrame({"recipe": ["a", "b"], "test_accuracy": [0.8, 0.9], "paper": [0.95, 0.9]}),
                            "recipe", "test_accuracy", paper="paper"),
    lambda: plots.vs_truth(FRAME, "truth", "estimate", "series", title="t", x_title="x", y_title="y"),
    lambda: plots.line_chart(FRAME, "truth", "estimate", "series", reference=1.0, dash="style", title="t",
                             x_title="x", y_title="y"),
    lambda: plots.errorbar_chart(STAGES.assign(id_mean=STAGES.mapc, id_std=0.1)),
    lambda: plots.reference_chart(STAGES, "test_accuracy", "mapc", reference=(0.2, 0.5), color="model",
                                  order="relative_depth"),
]


@pytest.mark.parametrize("make", ALL_CHARTS)
def test_every_mark_has_a_tooltip(make):
    for layer in _layers(make().to_dict()):
        assert layer.get("encoding", {}).get("tooltip"), f"a {_mark(layer)} mark without a tooltip"


def test_tooltips_use_readers_titles():
    spec = plots.profile_chart(STAGES, color="label").to_dict()
    points = [layer for layer in _layers(spec) if _mark(layer) == "point"][0]
    titles = [t["title"] for t in points["encoding"]["tooltip"]]
    assert titles[:4] == ["model", "architecture", "layer", "stage"] and "relative depth" in titles
    assert "MAPC" in titles


def test_scatter_and_profile_zoom_and_pan():
    for chart in (plots.profile_chart(STAGES, color="label"), plots.scatter_with_fit(STAGES, "mapc", "test_accuracy")):
        assert any(p.get("bind") == "scales" for p in _params(chart.to_dict()))


def test_stages_are_told_apart_by_mark():
    spec = plots.scatter_with_fit(STAGES, "mapc", "test_accuracy", color="model").to_dict()
    shape = [layer for layer in _layers(spec) if "shape" in layer.get("encoding", {})][0]["encoding"]["shape"]
    assert shape["field"] == "stage"
    marks = dict(zip(shape["scale"]["domain"], shape["scale"]["range"]))
    assert marks == {"final": "circle", "checkpoint": plots.HOLLOW_TRIANGLE}
    lines = plots.profile_chart(STAGES.assign(state=["trained"] * 6 + ["untrained"] * 3).drop(columns="stage"),
                                color="model").to_dict()
    dash = [layer for layer in _layers(lines) if "strokeDash" in layer.get("encoding", {})][0]["encoding"]["strokeDash"]
    assert dash["field"] == "state" and dash["scale"]["range"] == [[1, 0], [2, 2]]


def test_paper_ranges_are_drawn_and_labelled():
    spec = plots.profile_chart(STAGES, color="label", paper=[
        plots.paper_range("paper: plateau", 0.03, 0.25, x=0.1, x2=0.9), plots.paper_range("paper: value", 2.0)])
    text = json.dumps(spec.to_dict())
    marks = [_mark(layer) for layer in _layers(spec.to_dict())]
    assert "rect" in marks and "rule" in marks and marks.count("text") >= 1
    assert "paper: plateau" in text and "paper: value: 2" in text  # a box's numbers are in its tooltip
    bar = plots.bar_chart(pd.DataFrame({"recipe": ["a"], "test_accuracy": [0.8], "paper": [0.95]}), "recipe",
                          "test_accuracy", paper="paper", paper_label="paper (ResNet50)").to_dict()
    assert [_mark(layer) for layer in _layers(bar)] == ["bar", "tick"] and "paper (ResNet50)" in json.dumps(bar)


def test_charts_are_large_enough_to_read():
    config = plots.theme()["config"]
    assert config["axis"]["labelFontSize"] >= 13 and config["axis"]["titleFontSize"] >= 13
    assert config["legend"]["labelFontSize"] >= 13 and config["title"]["fontSize"] >= 14
    assert plots.profile_chart(STAGES).to_dict()["width"] == plots.WIDTH >= 550
    wide = [plots.profile_chart(STAGES) for _ in range(2)]
    narrow = [plots.profile_chart(STAGES, width=plots.PANEL_WIDTH) for _ in range(2)]
    assert plots.concat(wide).to_dict()["columns"] == 1 and plots.concat(narrow).to_dict()["columns"] == 2


def test_renderer_gives_a_live_chart_a_static_svg_and_the_spec():
    import altair as alt

    assert alt.renderers.active == plots.RENDERER and alt.theme.active == plots.THEME
    bundle = plots.profile_chart(STAGES, color="label", title="A <profile>")._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert bundle["image/svg+xml"].lstrip().startswith("<svg")
    assert bundle[plots.VEGALITE_MIME]["$schema"].endswith(".json")
    html = bundle["text/html"]
    assert '<div class="lg-chart" id="lg-chart-' in html and 'src="data:image/svg+xml;base64,' in html
    assert "window.vegaEmbed(live, spec" in html and '"actions": false' in html
    assert 'alt="A &lt;profile&gt; (static image' in html
    spec = json.loads(html.split('-spec">', 1)[1].split("</script>", 1)[0].replace("<\\/", "</"))
    assert spec["title"] == "A <profile>"
    assert "http" not in html.replace(spec["$schema"], "").replace("http://www.w3.org", "")  # no CDN address
