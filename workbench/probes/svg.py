"""Small inline SVG charts for the HTML report: line charts, grouped bar charts and scatter plots.

No plotting library is needed; each function returns one `<svg>` element as a string."""
from __future__ import annotations

import math
from html import escape

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#db2777",
           "#4b5563", "#65a30d")
UNLABELLED = "#9ca3af"
_FONT = 'font-family="Inter, Segoe UI, Helvetica, Arial, sans-serif"'
_MARGIN = (46, 14, 30, 36)  # left, right, top, bottom


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def format_number(value: float) -> str:
    """A short label for an axis tick or a table cell."""
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:.3g}"


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{escape(title)}" {_FONT} font-size="11">'
            f'<text x="{_MARGIN[0]}" y="16" font-size="13" font-weight="600" fill="#111827">{escape(title)}</text>'
            + "".join(body) + "</svg>")


def _legend(names: list[str], colours: list[str], x: float, y: float) -> list[str]:
    items, offset = [], 0.0
    for name, colour in zip(names, colours):
        items.append(f'<rect x="{x + offset:.1f}" y="{y - 8}" width="10" height="10" rx="2" fill="{colour}"/>'
                     f'<text x="{x + offset + 14:.1f}" y="{y + 1}" fill="#374151">{escape(name)}</text>')
        offset += 22 + 6.2 * len(name)
    return items


def line_chart(series: dict[str, list[tuple[float, float]]], title: str, width: int = 480,
               height: int = 230) -> str:
    """One line per named series of (x, y) points; non-finite points are left out."""
    clean = {name: [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
             for name, points in series.items()}
    clean = {name: points for name, points in clean.items() if points}
    if not clean:
        return _frame(width, 60, title, [f'<text x="{_MARGIN[0]}" y="40" fill="#6b7280">no data yet</text>'])
    xs = [x for points in clean.values() for x, _ in points]
    ys = [y for points in clean.values() for _, y in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    pad = (max(ys) - min(ys)) * 0.05 or abs(max(ys)) * 0.05 or 1.0
    y0, y1 = min(ys) - pad, max(ys) + pad
    left, right, top, bottom = _MARGIN
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    body = []
    for tick in _ticks(y0, y1):
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{py(tick):.1f}" y2="{py(tick):.1f}" '
                    f'stroke="#e5e7eb"/><text x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end" '
                    f'fill="#6b7280">{format_number(tick)}</text>')
    for tick in _ticks(x0, x1):
        body.append(f'<text x="{px(tick):.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                    f'fill="#6b7280">{format_number(tick)}</text>')
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(clean))]
    for colour, points in zip(colours, clean.values()):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                    f'stroke-linejoin="round"/>')
        if len(points) == 1:
            body.append(f'<circle cx="{px(points[0][0]):.1f}" cy="{py(points[0][1]):.1f}" r="3" fill="{colour}"/>')
    if len(clean) > 1:
        body += _legend(list(clean), colours, left + 4, top + 8)
    return _frame(width, height, title, body)


def bar_chart(categories: list[str], groups: dict[str, list[float]], errors: dict[str, list[float]],
              title: str, width: int = 720, height: int = 280) -> str:
    """Grouped bars in [0, 1] (shown as %): one cluster per category, one bar per group, with error whiskers."""
    left, right, top, bottom = 46, 14, 44, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    names = list(groups)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    body = _legend(names, colours, left, 34)
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + (1 - tick) * plot_h
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#6b7280">{tick:.0%}</text>')
    cluster = plot_w / max(1, len(categories))
    bar = cluster * 0.8 / max(1, len(names))
    for c, category in enumerate(categories):
        base = left + c * cluster + cluster * 0.1
        body.append(f'<text x="{left + (c + 0.5) * cluster:.1f}" y="{height - 10}" text-anchor="middle" '
                    f'fill="#374151">{escape(category)}</text>')
        for g, name in enumerate(names):
            value = groups[name][c]
            if not math.isfinite(value):
                continue
            x, h = base + g * bar, value * plot_h
            body.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar - 2, 1):.1f}" '
                        f'height="{h:.1f}" rx="2" fill="{colours[g]}"><title>{escape(name)}, {escape(category)}: '
                        f'{value:.1%}</title></rect>')
            spread = errors.get(name, [0.0] * len(categories))[c]
            if math.isfinite(spread) and spread > 0:
                centre = x + bar / 2
                y_high, y_low = top + (1 - min(1, value + spread)) * plot_h, top + (1 - max(0, value - spread)) * plot_h
                body.append(f'<line x1="{centre:.1f}" x2="{centre:.1f}" y1="{y_high:.1f}" y2="{y_low:.1f}" '
                            f'stroke="#111827" stroke-width="1.2"/>')
    return _frame(width, height, title, body)


def scatter(points: list[list[float]], labels: list[int], class_names: list[str], title: str,
            width: int = 520, height: int = 420) -> str:
    """A 2-D scatter coloured by label (grey for unlabelled, label < 0), with a legend of the classes."""
    left, right, top, bottom = 14, 14, 44, 14
    if not points:
        return _frame(width, 60, title, [f'<text x="{left}" y="40" fill="#6b7280">no map yet</text>'])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span_x, span_y = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(class_names))]
    body = _legend(class_names, colours, left + 4, 34) if class_names else []
    body.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f9fafb" rx="6"/>')
    for (x, y), label in zip(points, labels):
        colour = colours[label] if 0 <= label < len(colours) else UNLABELLED
        cx = left + 6 + (x - x0) / span_x * (plot_w - 12)
        cy = top + 6 + (1 - (y - y0) / span_y) * (plot_h - 12)
        body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.2" fill="{colour}" fill-opacity="0.75"/>')
    return _frame(width, height, title, body)
