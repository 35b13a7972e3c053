"""SVG geometry: points inside the box, bands and thresholds where their values are."""

from __future__ import annotations

from datetime import date

from monitor.web.charts import line_chart, sparkline


def coords(line: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in line.split()]  # type: ignore[misc]


def test_a_sparkline_spans_its_box_on_the_score_scale() -> None:
    points = [(date(2024, m, 1), float(s)) for m, s in ((1, 0), (6, 50), (12, 100))]
    chart = sparkline(points, width=100, height=20)
    xy = coords(chart.line)
    assert xy[0][0] == 1 and xy[-1][0] == 99
    assert xy[0][1] > xy[1][1] > xy[2][1]  # higher score, higher on the page
    assert chart.last == xy[-1]
    assert sparkline([]).empty
    assert sparkline([(date(2024, 1, 1), float("nan"))]).empty


def test_a_line_chart_draws_bands_thresholds_and_spans() -> None:
    points = [(date(2020 + i // 12, i % 12 + 1, 1), float(i % 100)) for i in range(60)]
    chart = line_chart(points, width=400, height=200, low=0, high=100,
                       bands=[(0, 50, "band-low", "low"), (50, 100, "band-high", "high")],
                       thresholds=[(75, "threshold-high", "t")],
                       spans=[(date(2021, 1, 1), date(2021, 6, 1), "episode-high", "e")])
    low, high = chart.bands
    assert low.y > high.y and abs(low.height - high.height) < 1
    (rule,) = chart.rules
    assert high.y < rule.y < low.y
    (span,) = chart.spans
    assert 44 < span.x < 400 and span.width > 1
    assert [label for _, label in chart.x_labels][:2] == ["2021", "2022"]
    assert all(10 <= y <= 178 for _, y in coords(chart.line))
    assert line_chart([]).empty
