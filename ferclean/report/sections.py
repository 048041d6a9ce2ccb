"""The report's sections, each from the gathered inputs and the embedded thumbnails to HTML.

A section that has nothing to show returns None and, where a command would have filled it,
adds a one-line note saying which command to run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.labels import class_order
from ferclean.manifest import effective_labels
from ferclean.mislabel.annotate import REASON_PREFIX
from ferclean.outputs import will_exist
from ferclean.quality import invalid_reasons
from ferclean.report import data
from ferclean.report.load import Inputs, Run
from ferclean.report.page import (
    Section,
    bar_chart,
    card,
    confusion,
    esc,
    face,
    line_chart,
    mapping_table,
    num,
    probe_bars,
    ratio,
    section_note,
    table,
)


def _note(kind: str, inputs: Inputs) -> str:
    """Where a section's report folder is, and when it was written (empty if none was found)."""
    folder = inputs.folders.get(kind)
    return f" Report folder: <code>{esc(folder)}</code> (written {inputs.written[kind]})." if folder else ""


def overview(inputs: Inputs) -> Section:
    """Counts before and after, imbalance, what each command changed, the recorded command lines."""
    frame = inputs.manifest.frame
    counts = data.overview_counts(frame)
    before, after = data.imbalance_ratios(counts)
    wide = counts.pivot_table(index="class", columns="split", values=["before", "after"], aggfunc="sum", fill_value=0, sort=False)
    splits = data.split_order(counts["split"].unique())
    rows = []
    for label in class_order(counts["class"].unique()):
        cells = [f"{num(wide.at[label, ('before', s)])} &rarr; {num(wide.at[label, ('after', s)])}" if ("before", s) in wide else "" for s in splits]
        rows.append([label, *cells, f"{num(wide.loc[label, 'before'].sum())} &rarr; {num(wide.loc[label, 'after'].sum())}"])
    heads = "".join(f'<th scope="col">{esc(s or "(no split)")}</th>' for s in splits)
    body = "".join("<tr>" + f'<th scope="row">{esc(r[0])}</th>' + "".join(f'<td class="n">{c}</td>' for c in r[1:]) + "</tr>" for r in rows)
    split_table = (
        f'<table><caption>Images per class and split, before &rarr; after</caption><thead><tr><th scope="col">class</th>{heads}'
        f'<th scope="col">total</th></tr></thead><tbody>{body}</tbody></table>'
    )
    steps = data.note_steps(frame)
    history = inputs.manifest.meta.get("history", [])
    changes = (
        table(steps, "What each command changed: rows it noted, by the status they hold now", numeric=["keep", "relabel", "review", "drop", "total"])
        if len(steps)
        else "<p>No command has changed a status yet.</p>"
    )
    written = "".join(f"<li>{esc(kind)}: written {esc(when)}</li>" for kind, when in inputs.written.items())
    lines = "".join(f"<li><code>{esc(line)}</code></li>" for line in history)
    body = (
        section_note(
            f"Before: every row with its given label and first split. After: the rows still kept (status other than drop),"
            f" relabelled ones under their new label. Imbalance (largest class / smallest): <strong>{ratio(before)}</strong>"
            f" before, <strong>{ratio(after)}</strong> after."
        )
        + bar_chart(counts, "Images per class, before and after")
        + split_table
        + changes
        + (f"<h3>Commands, in order</h3><ol>{lines}</ol>" if lines else "")
        + f"<h3>Files read</h3><ul>{written}</ul>"
    )
    return Section("overview", "Overview", body)


def duplicates(frame: pd.DataFrame, groups: pd.DataFrame, members: dict, thumbs: dict, inputs: Inputs) -> Section | None:
    """Leak and label-conflict groups first, as faces side by side; None if never deduped."""
    if frame["group"].isna().all():
        inputs.notes.append("Duplicates left out: the manifest has no duplicate groups (run ferclean dedupe).")
        return None
    counts = data.duplicate_counts(frame)
    leaks = counts["leaks"]
    cards, faces = [], 0
    for group, size, splits, labels, cross, conflict in zip(
        groups.index, groups["size"], groups["splits"], groups["labels"], groups["cross_split"], groups["conflict"]
    ):
        rows = members[int(group)]
        tags = ('<span class="tag conflict">label conflict</span> ' if conflict else "") + (
            '<span class="tag leak">across splits</span> ' if cross else ""
        )
        more = f", {size - len(rows)} more not shown" if size > len(rows) else ""
        head = f"{tags}group {int(group)}: {size} images, {esc(splits or '-')}, {esc(labels)}{more}"
        figures = [
            face(path, split, label, thumbs.get(path), f"{split or '-'} · {label}" + (" · dropped" if status == "drop" else ""))
            for path, split, label, status in rows
        ]
        css = "conflict" if conflict else ("leak" if cross else "")
        cards.append(card(head, figures, [r[2] for r in rows], [r[1] for r in rows], css))
        faces += len(figures)
    body = (
        section_note(
            f"<strong>{num(counts['groups'])}</strong> groups of exact or near-duplicate images ({num(counts['images'])} images,"
            f" largest {counts['largest']}); <strong>{num(counts['cross_split'])}</strong> span more than one split (a test face"
            f" seen in training inflates the test score) and <strong>{num(counts['conflict'])}</strong> carry different labels"
            f" on copies of one face. Shown: every label-conflict group, then every cross-split group, then the"
            f" {data.LARGEST_GROUPS} largest others; each face with its split and label under it."
            + _note("dedupe", inputs)
        )
        + (table(leaks, "Groups and images per split pair", numeric=["groups", "images"]) if len(leaks) else "")
        + f'<div class="cards">{"".join(cards)}</div>'
    )
    return Section("duplicates", "Duplicates and leakage", body, faces, len(cards))


def suspects(frame: pd.DataFrame, shown: pd.DataFrame, thumbs: dict, inputs: Inputs, link_base: Path | None) -> Section | None:
    """The most doubtful labels with the probe's bars; None if mislabel-review never ran."""
    if "label_quality" not in frame:
        inputs.notes.append("Suspect labels left out: the manifest has no label_quality column (run ferclean mislabel-review).")
        return None
    flagged = int(frame["note"].str.contains(REASON_PREFIX, regex=False).sum())
    probs = inputs.probs
    bars = data.probe_bars(list(shown["path"]), probs.paths, probs.probs) if probs is not None else None
    cards = []
    for k, r in enumerate(shown.itertuples()):
        figure = face(r.path, r.split, r.label, thumbs.get(r.path))
        detail = (
            f'<div>given <span class="given-text">{esc(r.label)}</span>, suggested <span class="suggested-text">'
            f"{esc(r.suggested_label)}</span> (p={r.suggested_confidence:.2f}); label quality {r.label_quality:.3f}"
            + (f"; now {esc(r.status)}" if r.status != "review" else "")
            + "</div>"
        )
        if bars is not None and not np.isnan(bars[k]).any():
            detail += probe_bars(bars[k], probs.classes, r.label, r.suggested_label)
        head = f"#{k + 1}"
        cards.append(card(head, [f'<div class="suspect">{figure}<div>{detail}</div></div>'], [r.label, r.suggested_label], [r.split]))
    link = ""
    folder = inputs.folders.get("review")
    if folder is not None and will_exist(folder / "review.html"):
        target = folder.resolve() / "review.html"
        href = os.path.relpath(target, link_base.resolve()) if link_base is not None else target.as_uri()
        link = f' To decide on them with the keyboard, open the <a href="{esc(Path(href).as_posix())}">review page</a>.'
    pairs = shown.groupby(["label", "suggested_label"]).size().sort_values(ascending=False)
    pair_rows = pd.DataFrame({"given -> suggested": [f"{a} -> {b}" for a, b in pairs.index], "images": pairs.to_numpy()})
    body = (
        section_note(
            f"The probe flagged <strong>{num(flagged)}</strong> images whose given label it finds unlikely; the"
            f" {num(len(shown))} most doubtful (lowest label quality: the margin of the given label over the likeliest"
            f" other class) are shown with the given label in red and the suggestion in green, and every class's"
            f" probability.{link}" + _note("review", inputs)
        )
        + (table(pair_rows.head(12), "Shown, per class pair", numeric=["images"]) if len(pair_rows) else "")
        + f'<div class="cards">{"".join(cards)}</div>'
    )
    return Section("suspects", "Suspect labels", body, len(cards), len(cards))


def invalid(frame: pd.DataFrame, galleries: list, thumbs: dict, inputs: Inputs) -> Section | None:
    """A gallery per quality reason, and the unreadable files; None if nothing was scanned for them."""
    unreadable = frame[frame["note"].str.startswith("unreadable:")]
    if not galleries and unreadable.empty:
        if "scan" not in inputs.folders:
            inputs.notes.append("Invalid images left out: no scan quality report found (run ferclean scan).")
            return None
    parts, faces, cards = [], 0, 0
    for reason, meaning, count, rows in galleries:
        labels = effective_labels(rows)
        figures = [face(r.path, r.split, lab, thumbs.get(r.path)) for r, lab in zip(rows.itertuples(), labels)]
        cells = [card(f"{esc(r.split or '-')} · {esc(lab)}", [fig], [lab], [r.split]) for r, lab, fig in zip(rows.itertuples(), labels, figures)]
        shown = f", first {len(rows)} shown" if count > len(rows) else ""
        parts.append(f"<h3>{esc(reason)}: {num(count)} images{shown}</h3><p class=\"meaning\">{esc(meaning)}</p><div class=\"cards\">{''.join(cells)}</div>")
        faces += len(figures)
        cards += len(cells)
    total = int(invalid_reasons(frame).notna().sum())
    body = section_note(
        f"<strong>{num(total)}</strong> images failed scan's checks that an image can be a face (an image may fail"
        f" several); they are marked review (or drop) with the reasons in their note. {num(len(unreadable))} files could"
        f" not be read at all." + _note("scan", inputs)
    )
    if len(unreadable):
        body += table(unreadable[["path", "split", "label", "note"]].head(50), "Unreadable files (status drop)")
    return Section("invalid", "Invalid images", body + "".join(parts), faces, cards)


def affectnet(inputs: Inputs, added: dict, thumbs: dict) -> Section | None:
    """Per class what merge-affectnet added, trimmed and refused; None if it never ran."""
    summary = inputs.manifest.meta.get("merge_affectnet")
    if summary is None:
        return None
    columns = [c for c in ("before", "added", "trimmed", "after") if summary.get(c)]
    classes = class_order(summary.get("before", {}))
    per_class = mapping_table({c: {col: summary.get(col, {}).get(c, 0) for col in columns} for c in classes}, columns, "class")
    skipped = summary.get("skipped", {})
    refused = (
        table(pd.DataFrame({"reason": list(skipped), "faces": list(skipped.values())}), "AffectNet faces not added, and why", numeric=["faces"])
        if skipped
        else "<p>No AffectNet face was refused.</p>"
    )
    cards, faces = [], 0
    for label, rows in added.items():
        figures = [face(r.path, r.split, label, thumbs.get(r.path)) for r in rows.itertuples()]
        cards.append(card(f"{esc(label)}: {num(summary.get('added', {}).get(label, len(rows)))} added, {len(rows)} shown", figures, [label], rows["split"]))
        faces += len(figures)
    body = (
        section_note(
            f"Faces from AffectNet ({esc(summary.get('affectnet', ''))}, {esc(summary.get('layout', ''))} layout) added to balance the"
            f" classes, target {esc(summary.get('target', ''))} ({num(summary.get('target_count') or 0)} per class)"
            f"{', label check on' if summary.get('check_labels') else ''}{', larger classes trimmed' if summary.get('trim') else ''}."
        )
        + per_class
        + refused
        + f'<div class="cards">{"".join(cards)}</div>'
    )
    return Section("affectnet", "AffectNet merge", body, faces, len(cards))


def _run_block(run: Run) -> str:
    """One run: its test scores, confusion matrix, evaluations and curves."""
    details = run.details
    parts = [f"<h3>{esc(run.name)}</h3>"]
    facts = [f"architecture {esc(details.get('arch', '?'))}"]
    training = details.get("training") or {}
    if training.get("epochs_run"):
        facts.append(f"{esc(training['epochs_run'])} epochs")
    source = (details.get("manifest") or {}).get("source") if isinstance(details.get("manifest"), dict) else details.get("manifest")
    if source:
        facts.append(f"manifest <code>{esc(source)}</code>")
    parts.append(f"<p>{', '.join(facts)}.</p>")
    metrics = run.metrics
    if metrics is not None and "accuracy" in metrics:
        parts.append(
            f"<p>{esc(metrics.get('split', 'test'))} split: accuracy <strong>{metrics['accuracy']:.1%}</strong>,"
            f" macro-F1 <strong>{metrics.get('macro_f1', float('nan')):.3f}</strong> on {num(metrics.get('images', 0))} images.</p>"
        )
        if "confusion_matrix" in metrics and "classes" in metrics:
            parts.append(confusion(metrics["confusion_matrix"], metrics["classes"], "Confusion matrix (rows: true class)"))
    else:
        parts.append("<p>No test metrics in this run folder.</p>")
    if run.evaluations:
        rows = pd.DataFrame(
            [{"evaluation": name, "accuracy": f"{m.get('accuracy', float('nan')):.1%}", "macro-F1": f"{m.get('macro_f1', float('nan')):.3f}", "images": m.get("images", 0)} for name, m in run.evaluations.items()]
        )
        parts.append(table(rows, "Evaluations (ferclean evaluate)", numeric=["images"]))
    if run.history is not None and len(run.history):
        parts.append(
            '<div class="runs">'
            + line_chart(run.history, ["accuracy", "val_accuracy"], f"{run.name}: accuracy per epoch")
            + line_chart(run.history, ["loss", "val_loss"], f"{run.name}: loss per epoch")
            + "</div>"
        )
    return "".join(parts)


def runs(inputs: Inputs) -> Section | None:
    """Every run found under ``--runs``; None if none was asked for."""
    if not inputs.runs:
        return None
    body = section_note(f"{len(inputs.runs)} training run(s) found: test accuracy, macro-F1, confusion matrix and curves.")
    return Section("runs", "Training runs", body + "".join(_run_block(run) for run in inputs.runs))
