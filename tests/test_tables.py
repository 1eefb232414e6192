"""lg.reporting.tables: tables shown with significant figures, not six decimals."""
import math

import numpy as np
import pandas as pd
import pytest

from latentgeom.reporting.report import Checklist, glue, plain
from latentgeom.reporting.tables import show, significant


@pytest.mark.parametrize("value,expected", [
    (0.123456, "0.123"), (1.23456, "1.23"), (123.456, "123"), (12345.6, "12,346"), (0.00123456, "0.00123"),
    (1.5e-7, "1.50e-07"), (2.5e8, "2.50e+08"), (0.0, "0"), (-0.0456789, "-0.0457"), (np.float32(0.5), "0.5"),
    (7, "7"), (123456, "123,456"), (np.int64(3), "3"), (True, "True"), ("text", "text"),
    (None, "—"), (float("nan"), "—"), (math.inf, "inf"),
    ((-0.8939543580825945, -0.6123799384288732), "(-0.894, -0.612)"), ([0.5, float("nan")], "(0.5, —)"),
])
def test_significant(value, expected):
    assert significant(value) == expected


def test_digits():
    assert significant(math.pi, 5) == "3.1416" and significant(math.pi, 2) == "3.1"


def test_show_formats_every_cell_and_the_index():
    frame = pd.DataFrame({"x": [0.123456, 1e-9], "n": [3, 4], "name": ["a", "b"]}, index=[0.5, 2.0 / 3])
    html = show(frame, caption="cap").to_html()
    assert "0.123" in html and "1.00e-09" in html and "0.667" in html and "cap" in html
    assert "0.123456" not in html and "0.666667" not in html
    assert "0.667" not in show(frame, index=False).to_html()  # index hidden


def test_checklist():
    checks = Checklist()
    assert checks.add("holds", "1 %", "< 2 %", True) and not checks.add("fails", "3 %", "< 2 %", np.bool_(False))
    assert checks.failed() == ["fails"] and list(checks.frame().columns) == ["claim", "measured", "criterion", "holds"]
    assert "1 of 2 checks hold" in checks.show().to_html()
    with pytest.raises(ValueError, match="claim"):
        checks.add("", "x", "y", True)


def test_plain_values_paste_with_a_format():
    """myst-nb reads a glued value back from its text/plain with ast.literal_eval: numpy scalars
    must arrive as Python numbers, or ``{glue:text}`key:.3f``` cannot format them."""
    from myst_nb.core.variables import format_plain_text

    assert type(plain(np.float64(0.5))) is float and type(plain(np.int64(3))) is int
    assert plain("holds") == "holds" and plain(None) is None and plain(True) is True
    assert format_plain_text(repr(plain(np.float64(0.04823))), ".1%") == "4.8%"
    with pytest.raises(TypeError, match="DataFrame"):
        plain(pd.DataFrame({"x": [1]}))


def test_glue_records_every_value_without_displaying_it(monkeypatch):
    import myst_nb

    seen = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: seen.append((name, value, display)))
    glue(a=np.float64(0.25), b="holds")
    assert seen == [("a", 0.25, False), ("b", "holds", False)] and type(seen[0][1]) is float
