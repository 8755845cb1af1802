"""The downloads chart as SVG drawn on the server: stacked bars by day, one colour per version
or installer. No script (the Content-Security-Policy allows none inline, and a chart needs
none); colours are attributes, not styles. The page shows the same numbers as a table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from analytics.selectors import Series

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 8, 28
# Okabe and Ito's palette: told apart with every common colour blindness; grey for the rest.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
REST_COLOUR = "#767676"
SHOWN = len(PALETTE)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    legend: list[tuple[str, str, int]]  # name, colour, total
    series: list[Series]  # as drawn (the rest merged), for the table
    days: list[dt.date]
    left: int
    bottom: float

    @property
    def table(self) -> list[tuple[dt.date, list[int]]]:
        """The chart's numbers by day, for the table beside it."""
        return [(day, [s.counts[i] for s in self.series]) for i, day in enumerate(self.days)]


def _grouped(series: list[Series]) -> list[Series]:
    if len(series) <= SHOWN:
        return series
    rest = series[SHOWN - 1 :]
    merged = [sum(counts) for counts in zip(*(s.counts for s in rest), strict=True)]
    return [*series[: SHOWN - 1], Series(f"{len(rest)} others", merged)]


def stacked_bars(days: list[dt.date], series: list[Series]) -> Chart:
    shown = _grouped(series)
    colours = [
        REST_COLOUR if s.name.endswith(" others") and i == SHOWN - 1 else PALETTE[i]
        for i, s in enumerate(shown)
    ]
    totals = [sum(s.counts[i] for s in shown) for i in range(len(days))]
    peak = max([*totals, 1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(days), 1)
    bars: list[Bar] = []
    for i, day in enumerate(days):
        y = float(TOP + plot_h)
        for s, colour in zip(shown, colours, strict=True):
            count = s.counts[i]
            if not count:
                continue
            height = plot_h * count / peak
            y -= height
            bars.append(
                Bar(
                    x=round(LEFT + i * step + step * 0.1, 2),
                    y=round(y, 2),
                    width=round(max(step * 0.8, 1), 2),
                    height=round(height, 2),
                    fill=colour,
                    title=f"{day.isoformat()}: {s.name}, {count}",
                )
            )
    ticks = [Tick(round(TOP + plot_h * (1 - f), 2), str(round(peak * f))) for f in (0, 0.5, 1)]
    every = 7 if len(days) <= 31 else 14
    labels = [
        Label(round(LEFT + i * step + step / 2, 2), day.strftime("%b %-d"))
        for i, day in enumerate(days)
        if (len(days) - 1 - i) % every == 0
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        ticks=ticks,
        labels=labels,
        legend=[(s.name, c, s.total) for s, c in zip(shown, colours, strict=True)],
        series=shown,
        days=days,
        left=LEFT,
        bottom=TOP + plot_h,
    )
