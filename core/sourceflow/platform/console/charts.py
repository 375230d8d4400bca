"""Charts drawn on the server as inline SVG: no chart library, nothing for the browser to run.

Templates call these and insert the result with ``|safe``; every text in them is escaped here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from markupsafe import Markup

STATUS_COLOURS = {"success": "#2e7d32", "failed": "#c62828", "inProgress": "#1565c0"}


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


def rate(traffic: dict[str, Any], width: int = 720, height: int = 160) -> Markup:
    """Messages per second in each step of ``GET /sourceflow/traffic``'s answer, as bars."""
    counts: list[int] = list(traffic.get("counts") or [])
    step = int(traffic.get("step") or 10)
    rates = [c / step for c in counts] or [0.0]
    top = max(max(rates), 1.0)
    left, bottom, plot_h = 40, 20, height - 30
    bar_w = (width - left) / len(rates)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-label="messages per second, last {len(rates) * step} seconds">',
        f'<text x="0" y="12" class="axis">{top:.1f}/s</text>',
        f'<text x="0" y="{height - bottom}" class="axis">0</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'class="base"/>',
    ]
    for i, value in enumerate(rates):
        h = plot_h * value / top
        x = left + i * bar_w
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{h:.1f}" class="bar"><title>{value:.2f} msg/s</title></rect>'
        )
    start, end = traffic.get("startTimeMs"), traffic.get("endTimeMs")
    if start and end:
        parts.append(
            f'<text x="{left}" y="{height - 4}" class="axis">{escape(_clock(start))}</text>'
            f'<text x="{width}" y="{height - 4}" class="axis" text-anchor="end">'
            f"{escape(_clock(end))} UTC</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())


def timeline(lanes: list[dict[str, Any]], width: int = 900, lane_h: int = 28) -> Markup:
    """Runs per flow on one time axis: ``lanes`` are ``{"name", "runs": [run JSON]}``."""
    spans = []
    for lane in lanes:
        for run in lane["runs"]:
            took = (run.get("metrics") or {}).get("durationSummary") or {}
            start = took.get("startedAtUTC") or run.get("createdAt")
            if start:
                spans.append((start, took.get("completedAtUTC") or start))
    label_w = 220
    height = 30 + lane_h * max(len(lanes), 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" aria-label="run timeline">'
    ]
    if not spans:
        parts.append('<text x="10" y="20" class="axis">no runs yet</text></svg>')
        return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())
    lo = min(s for s, _ in spans)
    hi = max(max(e for _, e in spans), lo + 1000)
    scale = (width - label_w - 10) / (hi - lo)
    for n, lane in enumerate(lanes):
        y = 10 + n * lane_h
        parts.append(
            f'<text x="0" y="{y + lane_h / 2 + 4:.0f}" class="lane">{escape(lane["name"][:30])}'
            "</text>"
        )
        for run in lane["runs"]:
            metrics = run.get("metrics") or {}
            took = metrics.get("durationSummary") or {}
            start = took.get("startedAtUTC") or run.get("createdAt")
            if not start:
                continue
            end = took.get("completedAtUTC") or start
            status = (metrics.get("statusSummary") or {}).get("status", "")
            x = label_w + (start - lo) * scale
            w = max((end - start) * scale, 4)
            records = metrics.get("recordSummary") or {}
            tip = (
                f"run {run.get('id')}: {status}, {records.get('outputRecordCount', 0)} written, "
                f"{records.get('failedRecordCount', 0)} failed"
            )
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{lane_h - 8}" '
                f'fill="{STATUS_COLOURS.get(status, "#757575")}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    parts.append(
        f'<text x="{label_w}" y="{height - 4}" class="axis">{escape(_clock(lo))}</text>'
        f'<text x="{width}" y="{height - 4}" class="axis" text-anchor="end">'
        f"{escape(_clock(hi))} UTC</text></svg>"
    )
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape())
