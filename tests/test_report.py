"""``ferclean report``: what each section shows on a small fixture, the page's validity, and a
reader's session in headless Chromium (no console error, no network, the filter, the keys)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import synthetic_face
from headless_chromium import Chromium

from ferclean.cli import main
from ferclean.manifest import Manifest, write_manifest
from ferclean.mislabel.saved_probs import SavedProbs, save_probs
from ferclean.report import build_report, write_report

CLASSES = ["angry", "happy", "sad", "neutral"]

# Duplicate groups: (group id, [(split, label, status)]).
GROUPS = [
    (1, [("train", "happy", "keep"), ("test", "sad", "review"), ("train", "happy", "review")]),  # conflict + leak
    (2, [("train", "sad", "drop"), ("val", "sad", "keep")]),  # leak
    (3, [("train", "angry", "keep")] + [("train", "angry", "drop")] * 14),  # large: 12 of 15 shown
    (4, [("test", "neutral", "keep"), ("test", "neutral", "drop")]),  # plain
]
INVALID = [("train", "sad", "near_uniform, low_information"), ("test", "happy", "not_a_face"), ("val", "angry", "too_dark")]
SUSPECTS = [("train", "sad", "neutral", 0.05), ("train", "happy", "sad", 0.20), ("val", "neutral", "sad", 0.30), ("test", "angry", "happy", 0.10)]
AFFECTNET = [("train", "sad")] * 3 + [("val", "sad"), ("train", "angry")]


def fixture_frame(root: Path, affectnet_dir: Path) -> pd.DataFrame:
    """A manifest after scan, dedupe, mislabel-review and merge-affectnet, with images on disk."""
    rows, seed = [], 0

    def add(split: str, label: str, status: str = "keep", note: str = "", folder: Path = root, **extra: object) -> None:
        nonlocal seed
        path = folder / split / label / f"img{seed:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_face(seed).save(path)
        rows.append({"path": str(path.relative_to(root)) if folder == root else str(path), "split": split, "label": label,
                     "status": status, "note": note, "source": "affectnet" if folder != root else "fer", **extra})
        seed += 1

    for group, members in GROUPS:
        for split, label, status in members:
            note = "duplicate of x (group 1)" if status == "drop" else ("label conflict in group 1: happy+sad" if status == "review" else "")
            add(split, label, status, note, group=group)
    for split, label, reasons in INVALID:
        add(split, label, "review", f"invalid: {reasons}")
    for split, label, suggested, quality in SUSPECTS:
        add(split, label, "review", f"mislabel-review: suggested {suggested} (p=0.70)",
            label_quality=quality, suggested_label=suggested, suggested_confidence=0.7)
    for split, label in AFFECTNET:
        add(split, label, "keep", "from affectnet", folder=affectnet_dir)
    for k in range(6):
        add(["train", "val", "test"][k % 3], CLASSES[k % 4])
    add("train", "happy", "drop", "trimmed to balance")
    return pd.DataFrame(rows)


@pytest.fixture
def fixture(tmp_path: Path) -> dict:
    root, affectnet = tmp_path / "data", tmp_path / "affectnet48"
    frame = fixture_frame(root, affectnet)
    out = tmp_path / "manifests"
    merge = {"affectnet": "AffectNet", "layout": "yolo", "target": "feasible", "target_count": 10, "trim": True,
             "check_labels": True, "before": {"sad": 6, "angry": 5}, "added": {"sad": 4, "angry": 1},
             "after": {"sad": 10, "angry": 6}, "trimmed": {}, "skipped": {"duplicate": 2, "label doubted by probe": 3}}
    manifest = Manifest(frame, root, {"merge_affectnet": merge, "history": [
        "ferclean dedupe data -o manifests/fix-dedup.csv",
        "ferclean mislabel-review manifests/fix-dedup.csv -o manifests/fix-review.csv"]})
    path = write_manifest(manifest, out / "fix.csv")
    review = out / "fix-review_review"  # found through the history's -o
    flagged = frame[frame["note"].str.startswith("mislabel-review")]
    probs = np.random.default_rng(0).dirichlet(np.ones(len(CLASSES)), len(flagged)).astype(np.float32)
    save_probs(review / "probs.npy", SavedProbs(probs, flagged["path"].tolist(), CLASSES, {}))
    (review / "review.html").write_text("<!DOCTYPE html><title>review</title>")
    runs = tmp_path / "runs" / "fix-1"
    runs.mkdir(parents=True)
    (runs / "model-details.json").write_text(json.dumps({"arch": "compact", "training": {"epochs_run": 3}}))
    (runs / "metrics.json").write_text(json.dumps({"split": "test", "accuracy": 0.61, "macro_f1": 0.55, "images": 30,
                                                   "classes": CLASSES, "confusion_matrix": np.eye(4, dtype=int).tolist()}))
    pd.DataFrame({"epoch": [0, 1, 2], "accuracy": [0.3, 0.5, 0.6], "val_accuracy": [0.3, 0.4, 0.5],
                  "loss": [1.5, 1.2, 1.0], "val_loss": [1.6, 1.4, 1.3]}).to_csv(runs / "history.csv", index=False)
    return {"manifest": path, "frame": frame, "runs": tmp_path / "runs", "tmp": tmp_path}


EXPECTED_FACES = {
    "duplicates": 3 + 2 + 12 + 2,
    "suspects": len(SUSPECTS),
    "invalid": sum(len(r.split(", ")) for *_, r in INVALID),
    "affectnet": len(AFFECTNET),
}


class Checker(HTMLParser):
    """Strict enough: every opened non-void element is closed in order, ids are unique, every
    image has alt text, nothing is fetched from elsewhere; faces are counted per section."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "source", "line", "rect", "polyline", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.errors: list[str] = []
        self.faces: dict[str, int] = {}
        self.section = ""
        self.doctype = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "details":
            self.section = a.get("id", "")
        if tag == "img" and not a.get("alt"):
            self.errors.append(f"img without alt: {a.get('title')}")
        for name in ("src", "href"):
            value = a.get(name) or ""
            if value.startswith(("http:", "https:", "//")):
                self.errors.append(f"remote {name}: {value}")
        if tag == "figure" and "face" in (a.get("class") or ""):
            self.faces[self.section] = self.faces.get(self.section, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()


def check(html: str) -> Checker:
    checker = Checker()
    checker.feed(html)
    checker.close()
    assert checker.doctype
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], checker.stack
    assert len(checker.ids) == len(set(checker.ids))
    for remote in ("<link", "<script src", "@import", "url(http"):
        assert remote not in html
    return checker


def test_each_section_shows_its_faces(fixture: dict) -> None:
    report = build_report(fixture["manifest"], fixture["runs"])
    checker = check(report.html)
    for section, faces in EXPECTED_FACES.items():
        assert report.faces[section] == faces, section
        assert checker.faces.get(section, 0) == faces, section
    assert list(report.faces) == ["overview", "duplicates", "suspects", "invalid", "affectnet", "runs"]
    assert report.notes == []
    html = report.html
    assert "label conflict" in html and "18 more" not in html and "3 more not shown" in html
    assert "fix-review_review/review.html" in html  # the review page is linked
    assert "61.0%" in html and "0.550" in html  # the run's accuracy and macro-F1
    assert "label doubted by probe" in html  # what the merge refused
    # Suspects most doubtful first: label_quality 0.05, 0.10, 0.20, 0.30.
    order = [html.index(f"label quality {q:.3f}") for q in (0.05, 0.10, 0.20, 0.30)]
    assert order == sorted(order)


def test_missing_parts_are_left_out_with_a_note(tmp_path: Path) -> None:
    root = tmp_path / "data"
    rows = []
    for k in range(4):
        path = root / "train" / "happy" / f"{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_face(k).save(path)
        rows.append({"path": f"train/happy/{k}.png", "split": "train", "label": "happy", "status": "keep"})
    manifest = write_manifest(Manifest(pd.DataFrame(rows), root), tmp_path / "m.csv")
    report = build_report(manifest)
    check(report.html)
    assert list(report.faces) == ["overview"]
    assert [n.split(" left out")[0] for n in report.notes] == ["Duplicates", "Suspect labels", "Invalid images"]
    assert all(n in report.html for n in report.notes)


def test_cli_reads_the_report_folders_and_refuses_bad_input(tmp_path: Path, make_dataset) -> None:
    data = make_dataset(tmp_path / "data", {"train": {"happy": 4, "sad": 3}, "test": {"happy": 2, "sad": 2}})
    twin = data / "test" / "sad" / "copy.png"
    twin.write_bytes((data / "train" / "happy" / "happy_train_0000.png").read_bytes())
    runner = CliRunner()
    manifest = tmp_path / "m" / "dedup.csv"
    assert runner.invoke(main, ["dedupe", str(data), "--policy", "keep-one", "-o", str(manifest), "-j", "1"]).exit_code == 0
    out = tmp_path / "out" / "report.html"
    result = runner.invoke(main, ["report", str(manifest), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Duplicates and leakage" in result.output and out.is_file()
    checker = check(out.read_text())
    assert checker.faces["duplicates"] == 2
    assert str(manifest.with_name("dedup_dedupe")) in out.read_text()
    beside = manifest.with_suffix(".html")  # beside the manifest: its .json is no output of the report's
    assert runner.invoke(main, ["report", str(manifest), "-o", str(beside)]).exit_code == 0 and beside.is_file()

    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    bad = [
        (["report", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "r.html")], "does not exist"),
        (["report", str(manifest), "-o", str(tmp_path / "r.csv")], "must end in .html"),
        (["report", str(manifest), "-o", str(data / "train" / "r.html")], "inside the source image folder"),
        (["report", str(data), "-o", str(tmp_path / "r.html")], "manifest .csv"),
        (["report", str(manifest), "-o", str(tmp_path / "r.html"), "--runs", str(tmp_path / "none")], "--runs"),
        (["report", str(manifest), "-o", str(tmp_path / "r.html"), "--top", "-1"], "--top"),
    ]
    for args, words in bad:
        result = runner.invoke(main, args)
        assert result.exit_code != 0, args
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and words in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == before


def test_write_report_is_atomic_and_relative(fixture: dict) -> None:
    out = fixture["tmp"] / "pages" / "r.html"
    report = write_report(fixture["manifest"], out)
    assert out.read_text() == report.html
    assert 'href="../manifests/fix-review_review/review.html"' in report.html
    assert [p.name for p in out.parent.iterdir()] == ["r.html"]


def test_report_folders_can_be_named(fixture: dict) -> None:
    """A caller such as ``ferclean clean`` names report folders that are not beside the manifest."""
    elsewhere = fixture["tmp"] / "clean-report" / "dedupe"
    elsewhere.mkdir(parents=True)
    html = build_report(fixture["manifest"], folders={"dedupe": elsewhere}).html
    assert f"Report folder: <code>{elsewhere}</code>" in html
    with pytest.raises(ValueError, match="unknown report folder kind"):
        build_report(fixture["manifest"], folders={"train": elsewhere})


def visible(browser: Chromium, section: str) -> list[list[str]]:
    """Labels of each shown card of a section."""
    return browser.evaluate(
        f"[...document.querySelectorAll('#{section} .card')].filter((c) => c.offsetParent !== null)"
        ".map((c) => c.dataset.labels.split(' '))"
    )


@pytest.mark.browser
def test_page_in_a_browser(browser: Chromium, fixture: dict) -> None:
    out = fixture["tmp"] / "report.html"
    write_report(fixture["manifest"], out, fixture["runs"])
    browser.send("Network.enable")
    browser.open(out.as_uri())
    events = browser._events
    problems = [e for e in events if e["method"] == "Runtime.exceptionThrown"
                or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "warning"))]
    assert problems == []
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    faces = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll('details.section')].map((d) => [d.id, d.querySelectorAll('figure.face img').length]))"
    )
    for section, count in EXPECTED_FACES.items():
        assert faces[section] == count, section
    loaded = browser.evaluate("[...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    assert loaded

    # The class filter: only cards holding that class stay; the split filter narrows further.
    browser.evaluate("(() => { const s = document.getElementById('f-class'); s.value = 'sad'; s.dispatchEvent(new Event('change')); })()")
    shown = visible(browser, "duplicates")
    assert len(shown) == 2 and all("sad" in labels for labels in shown)  # groups 1 and 2
    assert len(visible(browser, "suspects")) == 3  # given or suggested sad
    assert len(visible(browser, "affectnet")) == 1
    browser.evaluate("(() => { const s = document.getElementById('f-split'); s.value = 'val'; s.dispatchEvent(new Event('change')); })()")
    assert len(visible(browser, "duplicates")) == 1 and len(visible(browser, "suspects")) == 1
    assert "faces in 1 of 4 shown" in browser.evaluate("document.querySelector('#duplicates .shown').textContent")
    browser.evaluate("(() => { for (const id of ['f-class', 'f-split']) { const s = document.getElementById(id); s.value = '';"
                     " s.dispatchEvent(new Event('change')); } })()")
    assert len(visible(browser, "duplicates")) == 4

    # Keys: c collapses every section, e opens them, n moves to the next section's summary.
    browser.evaluate("document.body.focus()")
    browser.press("c")
    assert browser.evaluate("[...document.querySelectorAll('details.section')].every((d) => !d.open)")
    browser.press("e")
    assert browser.evaluate("[...document.querySelectorAll('details.section')].every((d) => d.open)")
    browser.press("n")
    browser.press("n")
    assert browser.evaluate("document.activeElement.parentElement.id") == "duplicates"
    browser.click("#collapse")
    assert browser.evaluate("document.getElementById('suspects').open") is False


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``rgb(r, g, b)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(v) / 255 for v in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.browser
def test_light_and_dark_themes_keep_text_readable(browser: Chromium, fixture: dict) -> None:
    out = fixture["tmp"] / "report.html"
    write_report(fixture["manifest"], out)
    backgrounds = []
    for scheme in ("light", "dark"):
        browser.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        browser.open(out.as_uri())
        colours = browser.evaluate(
            "(() => { const c = (s) => getComputedStyle(document.querySelector(s)); const bg = c('body').backgroundColor;"
            " return [bg, c('body').color, c('.meaning').color, c('figcaption').color, c('.given-text').color,"
            " c('.suggested-text').color, c('a').color]; })()"
        )
        background, *texts = colours
        backgrounds.append(background)
        for text in texts:
            assert contrast(background, text) >= 4.5, (scheme, text, background)
    assert backgrounds[0] != backgrounds[1]
