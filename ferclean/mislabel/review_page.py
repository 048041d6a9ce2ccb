"""A single self-contained HTML page for judging flagged images in a browser, keyboard first.

Thumbnails are embedded as data URIs and the decisions are built in the page, so the file
can be mailed or opened from a laptop with no server and no network. A reviewer with a
thousand images to judge keeps their hands on the keys (``k`` keep, ``d`` drop, ``r`` take the
suggestion, ``1``-``9`` pick a class, arrows move, ``u`` undo); every decision is saved in the
browser's localStorage under the review's identity as it is made, so a closed tab or a reload
loses nothing, and ``decisions.csv`` for ``--apply`` can be downloaded at any point.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image

#: Classes beyond this many have no number key (the page still offers them in each card's list).
NUMBER_KEYS = 9


def thumbnail_uri(image: np.ndarray, jpeg_quality: int | None = None) -> str:
    """A grey uint8 array as a ``data:image/png;base64`` URI, or a JPEG one at ``jpeg_quality``
    (half the bytes and a third of the time of a PNG, for pages of thousands of faces)."""
    buffer = io.BytesIO()
    gray = Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L")
    if jpeg_quality is None:
        gray.save(buffer, format="PNG", optimize=True)
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    gray.save(buffer, format="JPEG", quality=jpeg_quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def review_identity(review: pd.DataFrame, classes: Sequence[str], where: str = "") -> str:
    """A short hash of the reviewed rows, the classes and ``where`` the review was written.

    The page stores its decisions under this key, so reopening the same review restores them
    while a different review (other rows, another output) starts empty.
    """
    rows = review[["path", "label", "suggested_label"]].astype(str).to_numpy().tolist()
    text = json.dumps({"rows": rows, "classes": list(classes), "where": where}, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def render_review_page(
    review: pd.DataFrame,
    thumbnails: Sequence[str],
    probabilities: np.ndarray,
    classes: Sequence[str],
    title: str,
    *,
    where: str = "",
) -> str:
    """The page for ``review`` (columns path, label, suggested_label, label_quality; most
    doubtful first) with one thumbnail URI and one row of class ``probabilities`` per row.

    ``where`` (e.g. the report folder) is mixed into the review's identity, see ``review_identity``.
    """
    classes = list(classes)
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.shape != (len(review), len(classes)):
        raise ValueError(
            f"probabilities of shape {probabilities.shape} do not match {len(review)} rows and {len(classes)} classes"
        )
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted((set(review["label"]) | set(review["suggested_label"])) - set(index))
    if unknown:
        raise ValueError(f"label(s) {', '.join(map(str, unknown))} are not among the classes {', '.join(classes)}")
    items = [
        {
            "path": row.path,
            "given": index[row.label],
            "suggested": index[row.suggested_label],
            "score": round(float(row.label_quality), 4),
            "probs": [round(float(p), 3) for p in probs],
            "img": uri,
        }
        for row, uri, probs in zip(review.itertuples(index=False), thumbnails, probabilities, strict=True)
    ]
    data = {"items": items, "classes": classes, "key": review_identity(review, classes, where), "numberKeys": NUMBER_KEYS}
    text = json.dumps(data).replace("</", "<\\/")
    return _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", text)


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
:root { --header: 96px; --keep: #2e8b3d; --relabel: #d97a00; --drop: #c62828; --focus: #1565c0; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; background: #f4f4f4; color: #222; }
header { position: sticky; top: 0; z-index: 2; background: #fff; padding: .5em 1em; border-bottom: 1px solid #ccc;
  display: flex; flex-wrap: wrap; align-items: center; gap: .4em 1.2em; }
header h1 { font-size: 1.05em; margin: 0; }
#progress { display: flex; align-items: center; gap: .5em; font-variant-numeric: tabular-nums; }
#progress-bar { width: 160px; height: 10px; background: #e3e3e3; border-radius: 5px; overflow: hidden; }
#progress-fill { height: 100%; width: 0; background: var(--focus); }
#tally { color: #555; font-size: .9em; }
#saved { font-size: .85em; color: #555; } #saved.warn { color: var(--drop); font-weight: bold; }
button { font: inherit; cursor: pointer; }
#download { background: var(--focus); color: #fff; border: 0; border-radius: 4px; padding: .35em .8em; font-weight: 600; }
main { display: flex; align-items: flex-start; gap: 1em; padding: 1em; }
#grid { flex: 1; display: flex; flex-wrap: wrap; gap: 10px; align-content: flex-start; }
.card { width: 156px; background: #fff; border: 3px solid #ddd; border-radius: 8px; padding: 5px; font-size: 12px;
  position: relative; cursor: pointer; scroll-margin-top: calc(var(--header) + 12px); scroll-margin-bottom: 12px; }
.card img { width: 140px; height: 140px; image-rendering: pixelated; display: block; margin: 0 auto; border-radius: 3px; }
.card.keep { border-color: var(--keep); } .card.relabel { border-color: var(--relabel); } .card.drop { border-color: var(--drop); }
.card.drop img { opacity: .45; }
.card.focused { outline: 4px solid var(--focus); outline-offset: 2px; box-shadow: 0 4px 14px rgba(21, 101, 192, .45); }
.card .rank { position: absolute; z-index: 1; top: 8px; left: 8px; background: rgba(0, 0, 0, .6); color: #fff; border-radius: 3px;
  padding: 0 4px; font-size: 11px; }
.card .badge { position: absolute; z-index: 1; top: 8px; right: 8px; border-radius: 3px; padding: 0 5px; color: #fff; font-weight: 600;
  font-size: 11px; }
.card.keep .badge { background: var(--keep); } .card.relabel .badge { background: var(--relabel); }
.card.drop .badge { background: var(--drop); }
.pair { display: grid; grid-template-columns: 1fr auto 1fr; gap: 2px; margin: 4px 0 2px; text-align: center; }
.pair > span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pair .given { color: var(--drop); font-weight: 600; } .pair .suggested { color: var(--keep); font-weight: 600; }
.pair small { display: block; color: #444; font-variant-numeric: tabular-nums; }
.actions { display: flex; gap: 3px; margin: 3px 0; }
.actions button { flex: 1; padding: 1px 0; font-size: 11px; border: 1px solid #bbb; background: #f6f6f6; border-radius: 3px; }
.actions button[aria-pressed="true"] { color: #fff; border-color: transparent; }
.actions button[data-decision="keep"][aria-pressed="true"] { background: var(--keep); }
.actions button[data-decision="relabel"][aria-pressed="true"] { background: var(--relabel); }
.actions button[data-decision="drop"][aria-pressed="true"] { background: var(--drop); }
.card select { width: 100%; font-size: 11px; }
aside { position: sticky; top: calc(var(--header) + 1em); width: 310px; flex: none; background: #fff; border: 1px solid #ccc;
  border-radius: 8px; padding: 12px; max-height: calc(100vh - var(--header) - 2em); overflow: auto; }
#fv-head { display: flex; justify-content: space-between; font-size: .9em; color: #555; }
#fv-img { width: 240px; height: 240px; image-rendering: pixelated; display: block; margin: 8px auto; border-radius: 4px;
  background: #000; }
#fv-decision { text-align: center; font-weight: 700; padding: 3px; border-radius: 4px; background: #eee; color: #555; }
#fv-decision.keep { background: var(--keep); color: #fff; } #fv-decision.relabel { background: var(--relabel); color: #fff; }
#fv-decision.drop { background: var(--drop); color: #fff; }
.side-by-side { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; margin: 8px 0; }
.side-by-side > div { border-radius: 6px; padding: 6px 8px; }
#fv-given { background: #fdecea; } #fv-suggested { background: #e8f5e9; }
.side-by-side small { color: #555; display: block; }
.side-by-side b { font-size: 1.1em; }
.side-by-side .p { font-size: 1.4em; font-variant-numeric: tabular-nums; display: block; }
.bar { height: 6px; background: #ddd; border-radius: 3px; overflow: hidden; }
.bar > span { display: block; height: 100%; background: #777; }
#fv-given .bar > span { background: var(--drop); } #fv-suggested .bar > span { background: var(--keep); }
#fv-classes { list-style: none; margin: 6px 0; padding: 0; font-size: .9em; }
#fv-classes li { display: grid; grid-template-columns: 1.6em 5.5em 1fr 3em; align-items: center; gap: 6px; padding: 1px 4px;
  border-radius: 4px; cursor: pointer; }
#fv-classes li:hover { background: #f0f0f0; }
#fv-classes li.given { color: var(--drop); font-weight: 600; } #fv-classes li.suggested { color: var(--keep); font-weight: 600; }
#fv-classes li.chosen { background: #fff3e0; outline: 2px solid var(--relabel); }
#fv-classes .num { text-align: right; font-variant-numeric: tabular-nums; }
kbd { font-family: ui-monospace, monospace; font-size: .85em; border: 1px solid #aaa; border-bottom-width: 2px;
  border-radius: 3px; padding: 0 4px; background: #fafafa; color: #222; font-weight: normal; }
#fv-path { font-size: 11px; color: #666; overflow-wrap: anywhere; margin: 6px 0; }
#keys { font-size: .85em; color: #444; line-height: 1.7; border-top: 1px solid #eee; padding-top: 6px; }
#empty { padding: 2em; color: #666; }
details { margin: 0 1em 1em; } #decisions-preview { max-height: 14em; overflow: auto; background: #eee; padding: .5em; font-size: 11px; }
</style>
</head>
<body>
<header>
<h1>__TITLE__</h1>
<div id="progress"><span id="counter"></span><div id="progress-bar"><div id="progress-fill"></div></div>
<span id="tally"></span></div>
<label>Class pair <select id="pair-filter"><option value="">all</option></select></label>
<label>Show <select id="state-filter"><option value="">all</option><option value="undecided">undecided</option>
<option value="decided">decided</option></select></label>
<button id="mark-keep" type="button">Mark shown undecided: keep</button>
<button id="mark-relabel" type="button">Mark shown undecided: relabel</button>
<button id="download" type="button">Download decisions.csv</button>
<span id="saved"></span>
</header>
<main>
<div id="grid"></div>
<aside id="focus-view">
<div id="fv-head"><span id="fv-rank"></span><span id="fv-score"></span></div>
<img id="fv-img" alt="focused face">
<div id="fv-decision"></div>
<div class="side-by-side">
<div id="fv-given"><small>given label</small><b></b><span class="p"></span><div class="bar"><span></span></div></div>
<div id="fv-suggested"><small>suggestion</small><b></b><span class="p"></span><div class="bar"><span></span></div></div>
</div>
<ol id="fv-classes"></ol>
<div id="fv-path"></div>
<div id="keys"><kbd>k</kbd> keep &middot; <kbd>d</kbd> drop &middot; <kbd>r</kbd> relabel to the suggestion<br>
<span id="keys-numbers"></span> relabel to that class<br>
<kbd>&larr;</kbd><kbd>&rarr;</kbd><kbd>&uarr;</kbd><kbd>&darr;</kbd> move &middot; <kbd>u</kbd> undo</div>
</aside>
</main>
<details><summary>decisions.csv (what the download holds)</summary><pre id="decisions-preview"></pre></details>
<script type="application/json" id="review-data">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("review-data").textContent);
const ITEMS = DATA.items, CLASSES = DATA.classes;
const STORE = "ferclean-review:" + DATA.key;
const HISTORY_LIMIT = 5000;
const decisions = ITEMS.map(() => ({ decision: "", label: "" }));
const history = [];  // each entry: the changes of one action, [{i, before: {decision, label}}]
let focus = 0;
const $ = (id) => document.getElementById(id);
const grid = $("grid");
const cards = [];
const pairOf = (it) => CLASSES[it.given] + " \u2192 " + CLASSES[it.suggested];
const pct = (p) => (100 * p).toFixed(0) + "%";

function csvField(value) {
  const text = String(value);
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

function buildDecisionsCsv() {
  const lines = ["path,decision,new_label"];
  ITEMS.forEach((it, i) => {
    const d = decisions[i];
    if (d.decision) lines.push([it.path, d.decision, d.decision === "relabel" ? d.label : ""].map(csvField).join(","));
  });
  return lines.join("\n") + "\n";
}

// ---- saving in localStorage, keyed by the review's identity --------------------------------
function save() {
  const saved = {};
  ITEMS.forEach((it, i) => { if (decisions[i].decision) saved[it.path] = [decisions[i].decision, decisions[i].label]; });
  const past = history.slice(-HISTORY_LIMIT).map((entry) =>
    entry.map((c) => [ITEMS[c.i].path, c.before.decision, c.before.label]));
  try {
    localStorage.setItem(STORE, JSON.stringify({ decisions: saved, history: past, focus: ITEMS.length ? ITEMS[focus].path : "" }));
    $("saved").textContent = "saved in this browser";
    $("saved").className = "";
  } catch (error) {
    $("saved").textContent = "NOT saved (" + error.name + "): download decisions.csv before closing";
    $("saved").className = "warn";
  }
}

function valid(decision, label) {
  return (decision === "keep" || decision === "drop") || (decision === "relabel" && CLASSES.includes(label));
}

function restore() {
  let state = null;
  try { state = JSON.parse(localStorage.getItem(STORE) || "null"); } catch (error) { state = null; }
  if (!state || typeof state !== "object") return;
  const at = new Map(ITEMS.map((it, i) => [it.path, i]));
  Object.entries(state.decisions || {}).forEach(([path, d]) => {
    if (at.has(path) && Array.isArray(d) && valid(d[0], d[1])) {
      decisions[at.get(path)] = { decision: d[0], label: d[0] === "relabel" ? d[1] : "" };
    }
  });
  (state.history || []).forEach((entry) => {
    const changes = (Array.isArray(entry) ? entry : []).filter((c) => Array.isArray(c) && at.has(c[0]))
      .map((c) => ({ i: at.get(c[0]), before: valid(c[1], c[2]) ? { decision: c[1], label: c[2] } : { decision: "", label: "" } }));
    if (changes.length) history.push(changes);
  });
  if (at.has(state.focus)) focus = at.get(state.focus);
}

// ---- drawing ---------------------------------------------------------------------------------
function drawCard(i) {
  const card = cards[i], d = decisions[i], it = ITEMS[i];
  card.className = "card" + (d.decision ? " " + d.decision : "") + (i === focus ? " focused" : "");
  card.querySelector(".badge").textContent =
    d.decision === "relabel" ? "\u2192 " + d.label : d.decision ? d.decision.toUpperCase() : "";
  card.querySelectorAll(".actions button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.decision === d.decision)));
  card.querySelector("select").value = d.decision === "relabel" ? d.label : CLASSES[it.suggested];
}

function drawFocusView() {
  if (!ITEMS.length) return;
  const it = ITEMS[focus], d = decisions[focus];
  $("fv-rank").textContent = "#" + (focus + 1) + " of " + ITEMS.length;
  $("fv-score").textContent = "score " + it.score.toFixed(3);
  $("fv-img").src = it.img;
  const box = $("fv-decision");
  box.className = d.decision;
  box.textContent = d.decision === "relabel" ? "relabel \u2192 " + d.label : d.decision || "undecided";
  [["fv-given", it.given], ["fv-suggested", it.suggested]].forEach(([id, c]) => {
    $(id).querySelector("b").textContent = (c + 1 <= DATA.numberKeys ? (c + 1) + " " : "") + CLASSES[c];
    $(id).querySelector(".p").textContent = it.probs[c].toFixed(2);
    $(id).querySelector(".bar > span").style.width = pct(it.probs[c]);
  });
  $("fv-classes").querySelectorAll("li").forEach((li, c) => {
    li.className = (c === it.given ? "given" : "") + (c === it.suggested ? " suggested" : "") +
      (d.decision === "relabel" && d.label === CLASSES[c] ? " chosen" : "");
    li.querySelector(".bar > span").style.width = pct(it.probs[c]);
    li.querySelector(".num").textContent = it.probs[c].toFixed(2);
  });
  $("fv-path").textContent = it.path;
}

function visible(i) { return cards[i].style.display !== "none"; }

function applyFilters() {
  const pair = $("pair-filter").value, state = $("state-filter").value;
  let shown = 0;
  ITEMS.forEach((it, i) => {
    const decided = Boolean(decisions[i].decision);
    const show = (!pair || pairOf(it) === pair) && (!state || (state === "decided") === decided);
    cards[i].style.display = show ? "" : "none";
    shown += show;
  });
  return shown;
}

function refresh() {
  $("decisions-preview").textContent = buildDecisionsCsv();
  const count = { keep: 0, relabel: 0, drop: 0 };
  decisions.forEach((d) => { if (d.decision) count[d.decision] += 1; });
  const done = count.keep + count.relabel + count.drop;
  $("counter").textContent = done.toLocaleString("en-US") + " / " + ITEMS.length.toLocaleString("en-US") + " decided";
  $("progress-fill").style.width = ITEMS.length ? pct(done / ITEMS.length) : "0";
  $("tally").textContent = count.keep + " keep \u00b7 " + count.relabel + " relabel \u00b7 " + count.drop + " drop";
  applyFilters();
  drawFocusView();
}

// ---- focus and movement ------------------------------------------------------------------------
function setFocus(i, scroll = true) {
  if (i < 0 || i >= ITEMS.length) return;
  const old = focus;
  focus = i;
  drawCard(old);
  drawCard(i);
  drawFocusView();
  if (scroll && visible(i)) cards[i].scrollIntoView({ block: "nearest", inline: "nearest" });
}

function step(from, direction) {
  for (let j = from + direction; j >= 0 && j < ITEMS.length; j += direction) if (visible(j)) return j;
  return -1;
}

// The visible card in the next row up or down whose centre is closest to the focused one's.
function rowStep(direction) {
  const here = cards[focus], top = here.offsetTop, centre = here.offsetLeft + here.offsetWidth / 2;
  let rowTop = null, best = -1, bestDistance = Infinity;
  for (let j = focus + direction; j >= 0 && j < ITEMS.length; j += direction) {
    if (!visible(j)) continue;
    const t = cards[j].offsetTop;
    if (t === top) continue;
    if (rowTop === null) rowTop = t;
    if (t !== rowTop) break;
    const distance = Math.abs(cards[j].offsetLeft + cards[j].offsetWidth / 2 - centre);
    if (distance < bestDistance) { best = j; bestDistance = distance; }
  }
  return best;
}

function ensureFocusVisible() {
  if (!ITEMS.length || visible(focus)) return;
  const next = step(focus, 1) >= 0 ? step(focus, 1) : step(focus, -1);
  if (next >= 0) setFocus(next);
}

// ---- deciding and undoing ----------------------------------------------------------------------
function decide(changes) {
  const entry = changes.map(({ i, decision, label }) => ({ i, decision, label: decision === "relabel" ? label : "" }))
    .filter(({ i, decision, label }) => decisions[i].decision !== decision || decisions[i].label !== label)
    .map(({ i, decision, label }) => {
      const before = { ...decisions[i] };
      decisions[i] = { decision, label };
      drawCard(i);
      return { i, before };
    });
  if (entry.length) history.push(entry);
  refresh();
  save();
}

// A decision on the focused card moves on to the next shown card, as a reviewer reads on.
function decideFocused(decision, label) {
  const i = focus;
  if (decision === "relabel" && label === CLASSES[ITEMS[i].given]) decision = "keep";
  decide([{ i, decision, label }]);
  const next = step(i, 1);
  if (next >= 0) setFocus(next); else ensureFocusVisible();
  save();
}

function undo() {
  const entry = history.pop();
  if (!entry) return;
  entry.forEach(({ i, before }) => { decisions[i] = before; drawCard(i); });
  refresh();
  setFocus(entry[0].i);
  ensureFocusVisible();
  save();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || !ITEMS.length) return;
  const tag = event.target.tagName;
  if (tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
  const key = event.key, it = ITEMS[focus];
  const number = /^[1-9]$/.test(key) ? Number(key) - 1 : -1;
  let moveTo = null;
  if (key === "k" || key === "K") decideFocused("keep", "");
  else if (key === "d" || key === "D") decideFocused("drop", "");
  else if (key === "r" || key === "R") decideFocused("relabel", CLASSES[it.suggested]);
  else if (number >= 0 && number < Math.min(CLASSES.length, DATA.numberKeys)) decideFocused("relabel", CLASSES[number]);
  else if (key === "u" || key === "U") undo();
  else if (key === "ArrowRight") moveTo = step(focus, 1);
  else if (key === "ArrowLeft") moveTo = step(focus, -1);
  else if (key === "ArrowDown") moveTo = rowStep(1);
  else if (key === "ArrowUp") moveTo = rowStep(-1);
  else if (key === "Home") moveTo = step(-1, 1);
  else if (key === "End") moveTo = step(ITEMS.length, -1);
  else return;
  event.preventDefault();
  if (moveTo !== null && moveTo >= 0) { setFocus(moveTo); save(); }
});

// ---- building the page ---------------------------------------------------------------------------
function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

ITEMS.forEach((it, i) => {
  const card = document.createElement("div");
  card.dataset.index = i;
  card.innerHTML = '<span class="rank"></span><span class="badge"></span><img alt="">' +
    '<div class="pair"><span class="given"><span></span><small></small></span>\u2192' +
    '<span class="suggested"><span></span><small></small></span></div>' +
    '<div class="actions">' + ["keep", "relabel", "drop"].map((d) =>
      '<button type="button" tabindex="-1" data-decision="' + d + '">' + d + "</button>").join("") + "</div><select></select>";
  card.querySelector(".rank").textContent = "#" + (i + 1);
  card.querySelector("img").src = it.img;
  [["given", it.given], ["suggested", it.suggested]].forEach(([role, c]) => {
    card.querySelector("." + role + " span").textContent = CLASSES[c];
    card.querySelector("." + role + " small").textContent = it.probs[c].toFixed(2);
  });
  card.title = it.path;
  const select = card.querySelector("select");
  CLASSES.forEach((c, j) => select.appendChild(option(c, (j < DATA.numberKeys ? (j + 1) + " " : "") + c)));
  card.addEventListener("click", () => setFocus(i, false));
  card.querySelectorAll(".actions button").forEach((b) => b.addEventListener("click", () =>
    decide([{ i, decision: b.dataset.decision, label: select.value }])));
  select.addEventListener("change", () => { decide([{ i, decision: "relabel", label: select.value }]); select.blur(); });
  cards.push(card);
  grid.appendChild(card);
});
if (!ITEMS.length) grid.innerHTML = '<p id="empty">Nothing was flagged.</p>';

CLASSES.forEach((c, j) => {
  const li = document.createElement("li");
  li.innerHTML = '<kbd></kbd><span class="name"></span><div class="bar"><span></span></div><span class="num"></span>';
  li.querySelector("kbd").textContent = j < DATA.numberKeys ? String(j + 1) : "";
  li.querySelector(".name").textContent = c;
  li.addEventListener("click", () => decideFocused("relabel", c));
  $("fv-classes").appendChild(li);
});
const last = Math.min(CLASSES.length, DATA.numberKeys);
$("keys-numbers").innerHTML = "<kbd>1</kbd>&ndash;<kbd>" + last + "</kbd>";

const pairs = {};
ITEMS.forEach((it) => { pairs[pairOf(it)] = (pairs[pairOf(it)] || 0) + 1; });
Object.keys(pairs).sort((a, b) => pairs[b] - pairs[a]).forEach((p) => $("pair-filter").appendChild(option(p, p + " (" + pairs[p] + ")")));
["pair-filter", "state-filter"].forEach((id) => $(id).addEventListener("change", () => {
  applyFilters();
  ensureFocusVisible();
  $(id).blur();
}));
["keep", "relabel"].forEach((d) => $("mark-" + d).addEventListener("click", () => {
  decide(ITEMS.map((it, i) => ({ i, decision: d, label: CLASSES[it.suggested] }))
    .filter(({ i }) => !decisions[i].decision && visible(i)));
  ensureFocusVisible();
}));
$("download").addEventListener("click", () => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([buildDecisionsCsv()], { type: "text/csv" }));
  link.download = "decisions.csv";
  document.body.appendChild(link);
  link.click();
  link.remove();
});

function measureHeader() {
  document.documentElement.style.setProperty("--header", document.querySelector("header").offsetHeight + "px");
}
window.addEventListener("resize", measureHeader);
measureHeader();
restore();
cards.forEach((card, i) => drawCard(i));
refresh();
ensureFocusVisible();
if (ITEMS.length) setFocus(focus);
save();
</script>
</body>
</html>
"""
