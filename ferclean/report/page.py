"""The report as one HTML string: sections of counts, sentences and faces, inline SVG charts,
a class and split filter, collapsible sections, keyboard shortcuts, a light and a dark theme.

Pure: it takes tables and ready-made thumbnail data URIs and returns text, so the page
needs no network, no server and no file beside it.
"""

from __future__ import annotations

import html
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd



def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(value: float) -> str:
    """A count with thousands separators."""
    return f"{int(value):,}"


def ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else ("inf" if math.isinf(value) else f"{value:.1f}x")


@dataclass
class Section:
    """One collapsible part of the page; ``faces`` counts the thumbnails it holds."""

    id: str
    title: str
    body: str
    faces: int = 0
    cards: int = 0
    open: bool = True


@dataclass
class Page:
    """What the page is about: title lines, filter choices, notes of missing parts."""

    title: str
    subtitle: str
    classes: list[str]
    splits: list[str]
    notes: list[str] = field(default_factory=list)


def face(path: str, split: str, label: str, uri: str | None, caption: str | None = None, extra: str = "") -> str:
    """A thumbnail with its split and class under it (or ``caption``); an unreadable file
    shows as an empty frame with the reason as its text."""
    text = caption if caption is not None else f"{split or '-'} · {label}"
    alt = f"{label} face, {split or 'no'} split: {path}"
    image = (
        f'<img src="{uri}" alt="{esc(alt)}" title="{esc(path)}" width="64" height="64">'
        if uri
        else f'<span class="missing" role="img" aria-label="{esc("unreadable: " + path)}">unreadable</span>'
    )
    return (
        f'<figure class="face" data-split="{esc(split)}" data-label="{esc(label)}">{image}'
        f"<figcaption>{esc(text)}{extra}</figcaption></figure>"
    )


def card(head: str, faces: Sequence[str], labels: Sequence[str], splits: Sequence[str], css: str = "") -> str:
    """A filterable group of faces: shown when its ``labels`` hold the chosen class and its
    ``splits`` the chosen split."""
    return (
        f'<div class="card {css}" data-labels="{esc(" ".join(sorted(set(labels))))}"'
        f' data-splits="{esc(" ".join(sorted(set(splits))))}"><div class="card-head">{head}</div>'
        f'<div class="faces">{"".join(faces)}</div></div>'
    )


def table(frame: pd.DataFrame, caption: str = "", numeric: Sequence[str] = ()) -> str:
    """A plain HTML table; ``numeric`` columns are right-aligned and thousands-separated."""
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, values):
            if column in numeric:
                cells.append(f'<td class="n">{num(value)}</td>')
            else:
                cells.append(f"<td>{esc(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def bar_chart(counts: pd.DataFrame, title: str) -> str:
    """Inline SVG: per class, images before and after (bars side by side, counts above)."""
    per_class = counts.groupby("class", sort=False)[["before", "after"]].sum()
    top = max(int(per_class.to_numpy().max()) if len(per_class) else 1, 1)
    group, bar, height, base, left = 84, 30, 200, 230, 10
    width = left + group * len(per_class) + 150
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} 270" width="{width}" height="270" role="img" aria-labelledby="chart-title">',
        f'<title id="chart-title">{esc(title)}</title>',
        f'<line x1="{left}" y1="{base}" x2="{width - 150}" y2="{base}" class="axis"/>',
    ]
    for k, (label, row) in enumerate(per_class.iterrows()):
        x = left + k * group + 8
        for j, column in enumerate(("before", "after")):
            h = height * row[column] / top
            parts.append(
                f'<rect class="bar-{column}" x="{x + j * bar}" y="{base - h:.1f}" width="{bar - 4}" height="{h:.1f}">'
                f"<title>{esc(label)} {column}: {num(row[column])}</title></rect>"
            )
            parts.append(f'<text class="tick" x="{x + j * bar + (bar - 4) / 2:.1f}" y="{base - h - 4:.1f}" text-anchor="middle">{num(row[column])}</text>')
        parts.append(f'<text class="label" x="{x + bar - 2}" y="{base + 18}" text-anchor="middle">{esc(label)}</text>')
    lx = width - 140
    for j, column in enumerate(("before", "after")):
        parts.append(f'<rect class="bar-{column}" x="{lx}" y="{20 + 22 * j}" width="14" height="14"/>')
        parts.append(f'<text class="label" x="{lx + 20}" y="{32 + 22 * j}">{"before (all rows)" if j == 0 else "after (kept)"}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(history: pd.DataFrame, columns: Sequence[str], title: str) -> str:
    """Inline SVG of ``columns`` of a training history against the epoch."""
    columns = [c for c in columns if c in history]
    values = history[columns].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ""
    low, high = float(finite.min()), float(finite.max())
    high = high if high > low else low + 1
    w, h, pad = 360, 200, 34
    n = max(len(history) - 1, 1)
    ident = f"c{zlib.crc32(title.encode('utf-8')):08x}"
    parts = [
        f'<svg class="curve" viewBox="0 0 {w} {h + 40}" width="{w}" height="{h + 40}" role="img" aria-labelledby="{ident}">',
        f'<title id="{ident}">{esc(title)}</title>',
        f'<line x1="{pad}" y1="{h}" x2="{w - 6}" y2="{h}" class="axis"/><line x1="{pad}" y1="8" x2="{pad}" y2="{h}" class="axis"/>',
        f'<text class="tick" x="{pad - 4}" y="14" text-anchor="end">{high:.2f}</text>',
        f'<text class="tick" x="{pad - 4}" y="{h}" text-anchor="end">{low:.2f}</text>',
        f'<text class="tick" x="{w - 6}" y="{h + 14}" text-anchor="end">epoch {len(history)}</text>',
    ]
    for k, column in enumerate(columns):
        ys = values[:, k]
        points = " ".join(
            f"{pad + (w - 6 - pad) * i / n:.1f},{h - (h - 8) * (y - low) / (high - low):.1f}" for i, y in enumerate(ys) if np.isfinite(y)
        )
        parts.append(f'<polyline class="line-{k}" fill="none" points="{points}"/>')
        parts.append(f'<text class="label line-text-{k}" x="{pad + 110 * k}" y="{h + 34}">{esc(column)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], caption: str) -> str:
    """A confusion matrix as a table, each cell shaded by its share of the row."""
    matrix = np.asarray(matrix, dtype=float)
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in classes)
    rows = []
    for name, row in zip(classes, matrix):
        total = max(row.sum(), 1)
        cells = []
        for value in row:
            share = value / total
            tone = "hi" if share > 0.5 else ""
            cells.append(f'<td class="n cm {tone}" style="--share:{share:.3f}">{num(value)}</td>')
        rows.append(f'<tr><th scope="row">{esc(name)}</th>{"".join(cells)}</tr>')
    return (
        f'<table class="confusion"><caption>{esc(caption)}</caption><thead><tr><th scope="col">true \\ predicted</th>{head}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )


def probe_bars(probs: np.ndarray, classes: Sequence[str], given: str, suggested: str) -> str:
    """Every class's probe probability as a bar; the given and the suggested class marked."""
    rows = []
    for name, p in zip(classes, probs):
        css = "given" if name == given else ("suggested" if name == suggested else "")
        rows.append(
            f'<div class="pb {css}"><span class="pb-name">{esc(name)}</span>'
            f'<span class="pb-track"><span class="pb-fill" style="width:{100 * p:.1f}%"></span></span>'
            f'<span class="pb-val">{p:.2f}</span></div>'
        )
    return f'<div class="bars" role="group" aria-label="probe probabilities">{"".join(rows)}</div>'


def render(page: Page, sections: Sequence[Section]) -> str:
    """The whole document."""
    nav = "".join(f'<li><a href="#{s.id}">{esc(s.title)}</a></li>' for s in sections)
    class_options = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in page.classes)
    split_options = "".join(f'<option value="{esc(s)}">{esc(s)}</option>' for s in page.splits)
    notes = "".join(f"<li>{esc(n)}</li>" for n in page.notes)
    body = []
    for s in sections:
        shown = f' <span class="shown" data-total="{s.cards}">{num(s.faces)} faces</span>' if s.faces else ""
        body.append(
            f'<details class="section" id="{s.id}"{" open" if s.open else ""}>'
            f'<summary><span class="h2">{esc(s.title)}</span>{shown}</summary>'
            f'<div class="section-body">{s.body}</div></details>'
        )
    data = json.dumps({"sections": [s.id for s in sections]})
    return (
        _TEMPLATE.replace("__TITLE__", esc(page.title))
        .replace("__SUBTITLE__", page.subtitle)
        .replace("__NAV__", nav)
        .replace("__CLASSES__", class_options)
        .replace("__SPLITS__", split_options)
        .replace("__NOTES__", f'<ul class="notes">{notes}</ul>' if notes else "")
        .replace("__BODY__", "".join(body))
        .replace("__DATA__", data.replace("</", "<\\/"))
    )


def section_note(text: str) -> str:
    return f'<p class="meaning">{text}</p>'


def mapping_table(rows: Mapping[str, Mapping[str, int]], columns: Sequence[str], first: str) -> str:
    """A table from ``{row name: {column: count}}``."""
    frame = pd.DataFrame([{first: name, **{c: int(values.get(c, 0)) for c in columns}} for name, values in rows.items()])
    return table(frame, numeric=columns) if len(frame) else ""


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>__TITLE__</title>
<style>
:root { --bg: #ffffff; --fg: #1b1b1b; --muted: #4a4a4a; --card: #f3f4f6; --line: #c9ccd1; --accent: #1d4ed8;
  --before: #6b7280; --after: #1d4ed8; --given: #b91c1c; --suggested: #047857; --warn: #92400e; --focus: #c2410c;
  --cm: 29, 78, 216; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111418; --fg: #e8eaed; --muted: #b8bcc4; --card: #1c2128; --line: #3b424c; --accent: #8ab4f8;
    --before: #9aa0a6; --after: #8ab4f8; --given: #f28b82; --suggested: #81c995; --warn: #fdd663; --focus: #fdba74;
    --cm: 138, 180, 248; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { border-bottom: 1px solid var(--line); padding: 10px 20px 6px; }
h1 { font-size: 1.35rem; margin: 0 0 2px; }
.sub { color: var(--muted); margin: 0 0 8px; font-size: 0.9rem; }
.controls { position: sticky; top: 0; z-index: 2; background: var(--bg); padding: 6px 20px; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 14px; align-items: center; }
.controls select, .controls button { font: inherit; color: var(--fg); background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 3px 8px; }
.keys { color: var(--muted); font-size: 0.85rem; }
kbd { border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; font-size: 0.8rem; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 0 0; padding: 0; }
a { color: var(--accent); }
main { padding: 8px 20px 40px; max-width: 1400px; }
.notes { color: var(--warn); margin: 10px 0; }
details.section { scroll-margin-top: 60px; border: 1px solid var(--line); border-radius: 8px; margin: 14px 0; }
details.section > summary { cursor: pointer; padding: 10px 14px; font-size: 1.15rem; font-weight: 600; }
summary:focus-visible, a:focus-visible, select:focus-visible, button:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.shown { font-weight: 400; color: var(--muted); font-size: 0.9rem; margin-left: 10px; }
.section-body { padding: 0 14px 14px; }
.meaning { color: var(--muted); max-width: 75em; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.cm { background: rgba(var(--cm), var(--share)); }
td.cm.hi { color: #ffffff; }
@media (prefers-color-scheme: dark) { td.cm.hi { color: #111418; } }
.chart, .curve { max-width: 100%; height: auto; }
.chart .axis, .curve .axis { stroke: var(--muted); }
.chart text, .curve text { fill: var(--fg); font-size: 12px; }
.bar-before { fill: var(--before); } .bar-after { fill: var(--after); }
.curve polyline { stroke-width: 2; }
.line-0 { stroke: var(--after); } .line-1 { stroke: var(--given); } .line-2 { stroke: var(--suggested); }
.line-text-0 { fill: var(--after) !important; } .line-text-1 { fill: var(--given) !important; } .line-text-2 { fill: var(--suggested) !important; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 6px 8px; }
.card.conflict { border-left: 5px solid var(--given); }
.card.leak { border-left: 5px solid var(--warn); }
.card-head { font-size: 0.82rem; margin-bottom: 4px; max-width: 60em; }
.faces { display: flex; flex-wrap: wrap; gap: 6px; }
figure.face { margin: 0; width: 72px; text-align: center; }
figure.face img, .missing { width: 64px; height: 64px; object-fit: contain; background: #808080; display: inline-block; image-rendering: auto; }
.missing { color: #ffffff; font-size: 0.7rem; line-height: 64px; }
figcaption { font-size: 0.72rem; color: var(--muted); overflow-wrap: anywhere; }
.tag { display: inline-block; border-radius: 4px; padding: 0 5px; font-size: 0.75rem; font-weight: 600; color: var(--bg); }
.tag.conflict { background: var(--given); } .tag.leak { background: var(--warn); }
.suspect { display: flex; gap: 10px; align-items: flex-start; }
.bars { font-size: 0.75rem; min-width: 190px; }
.pb { display: flex; align-items: center; gap: 4px; }
.pb-name { width: 58px; }
.pb-track { width: 90px; height: 9px; background: var(--bg); border: 1px solid var(--line); display: inline-block; }
.pb-fill { display: block; height: 100%; background: var(--before); }
.pb.given .pb-fill { background: var(--given); } .pb.suggested .pb-fill { background: var(--suggested); }
.pb.given .pb-name, .pb.suggested .pb-name { font-weight: 700; }
.pb-val { width: 32px; text-align: right; font-variant-numeric: tabular-nums; }
.given-text { color: var(--given); font-weight: 600; } .suggested-text { color: var(--suggested); font-weight: 600; }
.runs { display: flex; flex-wrap: wrap; gap: 18px; }
.hidden { display: none !important; }
</style>
</head>
<body>
<header>
<h1>__TITLE__</h1>
<p class="sub">__SUBTITLE__</p>
<nav aria-label="sections"><ul>__NAV__</ul></nav>
</header>
<div class="controls" role="group" aria-label="filters">
<label for="f-class">Class <select id="f-class"><option value="">all classes</option>__CLASSES__</select></label>
<label for="f-split">Split <select id="f-split"><option value="">all splits</option>__SPLITS__</select></label>
<span id="f-count" aria-live="polite"></span>
<button type="button" id="expand">Expand all</button>
<button type="button" id="collapse">Collapse all</button>
<span class="keys">Keys: <kbd>n</kbd>/<kbd>p</kbd> next/previous section, <kbd>e</kbd>/<kbd>c</kbd> expand/collapse all,
<kbd>f</kbd>/<kbd>s</kbd> class/split filter</span>
</div>
<main>
__NOTES__
__BODY__
</main>
<script id="report-data" type="application/json">__DATA__</script>
<script>
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const sections = data.sections.map((id) => document.getElementById(id));
  const byClass = document.getElementById("f-class");
  const bySplit = document.getElementById("f-split");
  function applyFilter() {
    const c = byClass.value, s = bySplit.value;
    let shown = 0, total = 0;
    for (const section of sections) {
      let inSection = 0, faces = 0;
      for (const card of section.querySelectorAll(".card")) {
        const ok = (!c || card.dataset.labels.split(" ").includes(c)) && (!s || card.dataset.splits.split(" ").includes(s));
        card.classList.toggle("hidden", !ok);
        if (ok) { inSection += 1; faces += card.querySelectorAll("figure.face").length; }
      }
      const label = section.querySelector(".shown");
      if (label) {
        const all = Number(label.dataset.total);
        label.textContent = (c || s) ? `${faces} faces in ${inSection} of ${all} shown` : `${faces} faces`;
        shown += inSection; total += all;
      }
    }
    document.getElementById("f-count").textContent = (c || s) ? `${shown} of ${total} groups and images match` : "";
  }
  byClass.addEventListener("change", applyFilter);
  bySplit.addEventListener("change", applyFilter);
  const setAll = (open) => sections.forEach((d) => { d.open = open; });
  document.getElementById("expand").addEventListener("click", () => setAll(true));
  document.getElementById("collapse").addEventListener("click", () => setAll(false));
  function step(delta) {
    const current = sections.findIndex((d) => d.contains(document.activeElement));
    const next = Math.min(Math.max(current + delta, 0), sections.length - 1);
    const summary = sections[current < 0 && delta < 0 ? 0 : next].querySelector("summary");
    summary.focus();
    summary.scrollIntoView({ block: "start" });
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (["SELECT", "INPUT", "TEXTAREA"].includes(event.target.tagName)) return;
    const actions = { n: () => step(1), p: () => step(-1), e: () => setAll(true), c: () => setAll(false),
                      f: () => byClass.focus(), s: () => bySplit.focus() };
    const action = actions[event.key];
    if (action) { event.preventDefault(); action(); }
  });
  applyFilter();
})();
</script>
</body>
</html>
"""
