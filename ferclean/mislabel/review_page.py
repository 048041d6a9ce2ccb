"""A single self-contained HTML page for reviewing flagged images in a browser.

Thumbnails are embedded as data URIs and the decisions are built in the page, so the file
can be mailed or opened from a laptop with no server and no network. The reviewer marks
each image keep / relabel / drop and downloads ``decisions.csv`` for ``--apply``.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image


def thumbnail_uri(image: np.ndarray) -> str:
    """A grey uint8 array as a ``data:image/png;base64`` URI."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_review_page(review: pd.DataFrame, thumbnails: Sequence[str], classes: Sequence[str], title: str) -> str:
    """The page for ``review`` (columns path, label, suggested_label, suggested_confidence,
    label_quality; most doubtful first) with one thumbnail URI per row."""
    items = [
        {
            "path": row.path,
            "given": row.label,
            "suggested": row.suggested_label,
            "confidence": round(float(row.suggested_confidence), 3),
            "score": round(float(row.label_quality), 4),
            "img": uri,
        }
        for row, uri in zip(review.itertuples(index=False), thumbnails, strict=True)
    ]
    data = json.dumps({"items": items, "classes": list(classes)}).replace("</", "<\\/")
    return _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", data)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1em; background: #fafafa; color: #222; }
header { position: sticky; top: 0; background: #fafafa; padding: .5em 0; border-bottom: 1px solid #ccc; z-index: 1; }
header > * { margin-right: 1em; }
#grid { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 1em; }
.card { width: 150px; background: #fff; border: 2px solid #ddd; border-radius: 6px; padding: 6px; font-size: 12px; }
.card img { width: 144px; height: 144px; image-rendering: pixelated; display: block; }
.card.keep { border-color: #4a4; } .card.relabel { border-color: #e90; } .card.drop { border-color: #c33; }
.card .path { color: #777; overflow-wrap: anywhere; font-size: 10px; }
.card label { margin-right: 4px; }
.pair b { color: #c33; } .pair i { color: #270; font-style: normal; font-weight: bold; }
#decisions-preview { max-height: 12em; overflow: auto; background: #eee; padding: .5em; font-size: 11px; }
</style>
</head>
<body>
<header>
<strong>__TITLE__</strong>
<label>Class pair <select id="pair-filter"><option value="">all</option></select></label>
<label>Show <select id="state-filter"><option value="">all</option><option value="undecided">undecided</option>
<option value="decided">decided</option></select></label>
<button id="mark-keep" type="button">Mark shown undecided: keep</button>
<button id="mark-relabel" type="button">Mark shown undecided: relabel</button>
<button id="download" type="button">Download decisions.csv</button>
<span id="counter"></span>
</header>
<div id="grid"></div>
<h3>decisions.csv</h3>
<pre id="decisions-preview"></pre>
<script type="application/json" id="review-data">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("review-data").textContent);
const decisions = DATA.items.map(() => ({ decision: "", label: "" }));
const grid = document.getElementById("grid");
const pairOf = (it) => it.given + " \u2192 " + it.suggested;

function csvField(value) {
  const text = String(value);
  return /[",\\n\\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

function buildDecisionsCsv() {
  const lines = ["path,decision,new_label"];
  DATA.items.forEach((it, i) => {
    const d = decisions[i];
    if (!d.decision) return;
    lines.push([it.path, d.decision, d.decision === "relabel" ? d.label : ""].map(csvField).join(","));
  });
  return lines.join("\\n") + "\\n";
}

function refresh() {
  document.getElementById("decisions-preview").textContent = buildDecisionsCsv();
  const done = decisions.filter((d) => d.decision).length;
  document.getElementById("counter").textContent = done + " / " + DATA.items.length + " decided";
  applyFilters();
}

function setDecision(i, decision) {
  const card = grid.children[i];
  decisions[i].decision = decision;
  decisions[i].label = card.querySelector("select").value;
  card.className = "card " + decision;
  card.querySelector('input[value="' + decision + '"]').checked = true;
}

function applyFilters() {
  const pair = document.getElementById("pair-filter").value;
  const state = document.getElementById("state-filter").value;
  DATA.items.forEach((it, i) => {
    const decided = Boolean(decisions[i].decision);
    const show = (!pair || pairOf(it) === pair) && (!state || (state === "decided") === decided);
    grid.children[i].style.display = show ? "" : "none";
  });
}

DATA.items.forEach((it, i) => {
  const card = document.createElement("div");
  card.className = "card";
  card.dataset.index = i;
  const options = DATA.classes.map((c) =>
    '<option value="' + c + '"' + (c === it.suggested ? " selected" : "") + ">" + c + "</option>").join("");
  card.innerHTML =
    '<img alt="">' +
    '<div class="pair">given <b></b> \u2192 suggested <i></i></div>' +
    "<div>score " + it.score.toFixed(3) + ", p=" + it.confidence.toFixed(2) + "</div>" +
    '<div class="path"></div>' +
    ["keep", "relabel", "drop"].map((d) =>
      '<label><input type="radio" name="d' + i + '" value="' + d + '">' + d + "</label>").join("") +
    "<div>new label <select>" + options + "</select></div>";
  card.querySelector("img").src = it.img;
  card.querySelector(".pair b").textContent = it.given;
  card.querySelector(".pair i").textContent = it.suggested;
  card.querySelector(".path").textContent = it.path;
  card.querySelectorAll("input").forEach((input) =>
    input.addEventListener("change", () => { setDecision(i, input.value); refresh(); }));
  card.querySelector("select").addEventListener("change", (e) => {
    decisions[i].label = e.target.value;
    if (decisions[i].decision !== "relabel") setDecision(i, "relabel");
    refresh();
  });
  grid.appendChild(card);
});

const pairs = {};
DATA.items.forEach((it) => { pairs[pairOf(it)] = (pairs[pairOf(it)] || 0) + 1; });
Object.keys(pairs).sort((a, b) => pairs[b] - pairs[a]).forEach((p) => {
  const option = document.createElement("option");
  option.value = p;
  option.textContent = p + " (" + pairs[p] + ")";
  document.getElementById("pair-filter").appendChild(option);
});
document.getElementById("pair-filter").addEventListener("change", applyFilters);
document.getElementById("state-filter").addEventListener("change", applyFilters);
["keep", "relabel"].forEach((d) => document.getElementById("mark-" + d).addEventListener("click", () => {
  DATA.items.forEach((it, i) => {
    if (!decisions[i].decision && grid.children[i].style.display !== "none") setDecision(i, d);
  });
  refresh();
}));
document.getElementById("download").addEventListener("click", () => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([buildDecisionsCsv()], { type: "text/csv" }));
  link.download = "decisions.csv";
  link.click();
});
refresh();

// ?selftest=1: click the first image's "relabel" like a reviewer would (used by the browser test).
if (new URLSearchParams(location.search).has("selftest") && DATA.items.length) {
  grid.children[0].querySelector('input[value="relabel"]').click();
  document.body.dataset.selftest = "done";
}
</script>
</body>
</html>
"""
