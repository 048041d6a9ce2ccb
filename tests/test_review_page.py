"""The review page: what it embeds, its identity, and a reviewer's keyboard session in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_face
from headless_chromium import Chromium, wait_for_file

from ferclean.mislabel.decisions import read_decisions
from ferclean.mislabel.review_page import render_review_page, review_identity, thumbnail_uri

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def review_rows(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` flagged rows whose suggestion is the most probable class other than the given one."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(len(CLASSES), 0.5), n)
    given = rng.integers(0, len(CLASSES), n)
    others = probs.copy()
    others[np.arange(n), given] = -1
    suggested = others.argmax(axis=1)
    review = pd.DataFrame({
        "path": [f"train/{CLASSES[g]}/img{i:04d}.png" for i, g in enumerate(given)],
        "label": [CLASSES[g] for g in given],
        "suggested_label": [CLASSES[s] for s in suggested],
        "label_quality": probs[np.arange(n), given],
    })
    return review, probs


def page_data(page: str) -> dict:
    return json.loads(page.split('id="review-data">')[1].split("</script>")[0].replace("<\\/", "</"))


def write_page(folder: Path, n: int, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    review, probs = review_rows(n, seed)
    thumbs = [thumbnail_uri(np.asarray(synthetic_face(seed * 1000 + i))) for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "review.html"
    page.write_text(render_review_page(review, thumbs, probs, CLASSES, f"{n} flagged", where=str(folder)), encoding="utf-8")
    return page, review


def test_page_embeds_rows_probabilities_and_needs_no_network() -> None:
    review, probs = review_rows(5)
    review.loc[0, "path"] = "train/sad/</script><b>.png"
    page = render_review_page(review, [thumbnail_uri(np.zeros((48, 48)))] * 5, probs, CLASSES, "<title>")
    data = page_data(page)
    assert [it["path"] for it in data["items"]] == review["path"].tolist()
    assert [CLASSES[it["given"]] for it in data["items"]] == review["label"].tolist()
    assert [CLASSES[it["suggested"]] for it in data["items"]] == review["suggested_label"].tolist()
    np.testing.assert_allclose([it["probs"] for it in data["items"]], probs, atol=5e-4)
    assert data["key"] == review_identity(review, CLASSES)
    assert "&lt;title&gt;" in page and "<title><title>" not in page
    for remote in ('src="http', "src='http", 'href="http', "url(http", "@import", "<link", "<script src"):
        assert remote not in page


def test_identity_follows_the_rows_and_the_output() -> None:
    review, _ = review_rows(6)
    same = review_identity(review.copy(), CLASSES, "out/a")
    assert same == review_identity(review, CLASSES, "out/a")
    assert same != review_identity(review, CLASSES, "out/b")
    assert same != review_identity(review.iloc[::-1], CLASSES, "out/a")
    assert same != review_identity(review.assign(suggested_label="happy"), CLASSES, "out/a")


def test_mismatched_inputs_are_value_errors() -> None:
    review, probs = review_rows(3)
    thumbs = [thumbnail_uri(np.zeros((48, 48)))] * 3
    with pytest.raises(ValueError, match=r"shape \(3, 6\)"):
        render_review_page(review, thumbs, probs[:, :6], CLASSES, "t")
    with pytest.raises(ValueError, match="contempt"):
        render_review_page(review.assign(label="contempt"), thumbs, probs, CLASSES, "t")


def cards(browser: Chromium) -> list[str]:
    """Each card's decision as the page draws it: '', 'keep', 'drop' or '-> label'."""
    return browser.evaluate(
        "[...document.querySelectorAll('.card')].map((c) => c.classList.contains('relabel')"
        " ? '-> ' + c.querySelector('.badge').textContent.slice(2) : ['keep', 'drop'].find((d) => c.classList.contains(d)) || '')"
    )


def focused(browser: Chromium) -> int:
    focus = browser.evaluate("[...document.querySelectorAll('.card.focused')].map((c) => Number(c.dataset.index))")
    assert len(focus) == 1
    return focus[0]


def in_view(browser: Chromium, index: int) -> bool:
    return browser.evaluate(
        f"(() => {{ const r = document.querySelectorAll('.card')[{index}].getBoundingClientRect();"
        " const top = document.querySelector('header').getBoundingClientRect().bottom;"
        " return r.top >= top && r.bottom <= window.innerHeight; })()"
    )


@pytest.mark.browser
def test_keyboard_review_is_saved_restored_and_downloaded(browser: Chromium, tmp_path: Path) -> None:
    page, review = write_page(tmp_path / "report", 40)
    given, suggested = review["label"].tolist(), review["suggested_label"].tolist()
    browser.open(page.as_uri())
    assert browser.evaluate("document.getElementById('counter').textContent") == "0 / 40 decided"
    assert focused(browser) == 0

    # Card 3 gets the first class its given label is not; number keys are 1-based.
    number = next(j for j, c in enumerate(CLASSES) if c != given[3])
    for key in ("k", "d", "r", str(number + 1)):
        browser.press(key)
    assert focused(browser) == 4
    browser.press("ArrowRight")
    browser.press("k")
    assert cards(browser)[5] == "keep" and focused(browser) == 6
    browser.press("u")
    assert cards(browser)[5] == "" and focused(browser) == 5
    browser.press("ArrowLeft")
    assert focused(browser) == 4
    top = browser.evaluate("document.querySelectorAll('.card')[4].offsetTop")
    browser.press("ArrowDown")
    below = focused(browser)
    assert below > 4 and browser.evaluate(f"document.querySelectorAll('.card')[{below}].offsetTop") > top
    browser.press("ArrowUp")
    assert focused(browser) == 4
    own = CLASSES.index(given[4])
    browser.press(str(own + 1))  # relabelling to the given class is keeping it
    browser.press("End")
    assert focused(browser) == 39 and in_view(browser, 39)
    browser.press("d")

    expected = ["keep", "drop", f"-> {suggested[2]}", f"-> {CLASSES[number]}", "keep"] + [""] * 34 + ["drop"]
    assert cards(browser) == expected
    assert browser.evaluate("document.getElementById('counter').textContent") == "6 / 40 decided"
    assert browser.evaluate("document.getElementById('fv-path').textContent") == review["path"][39]

    browser.reload()
    assert cards(browser) == expected
    assert focused(browser) == 39
    assert browser.evaluate("document.getElementById('counter').textContent") == "6 / 40 decided"
    browser.press("Home")
    assert focused(browser) == 0 and in_view(browser, 0)
    browser.press("u")  # the history survives the reload: this undoes the drop of card 39
    assert cards(browser)[39] == "" and focused(browser) == 39
    browser.press("ArrowLeft")
    browser.press("r")
    expected[38], expected[39] = f"-> {suggested[38]}", ""

    pair = json.dumps(f"{given[2]} \u2192 {suggested[2]}")
    browser.evaluate(f"(() => {{ const s = document.getElementById('pair-filter'); s.value = {pair};"
                     " s.dispatchEvent(new Event('change')); })()")
    shown = browser.evaluate("[...document.querySelectorAll('.card')].filter((c) => c.style.display !== 'none').length")
    assert shown == sum(1 for g, s in zip(given, suggested) if (g, s) == (given[2], suggested[2]))

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.allow_downloads(downloads)
    browser.click("#download")
    text = wait_for_file(downloads / "decisions.csv")
    rows = [line.split(",") for line in text.strip().splitlines()]
    assert rows[0] == ["path", "decision", "new_label"]
    want = [[p, "relabel", e[3:]] if e.startswith("-> ") else [p, e, ""] for p, e in zip(review["path"], expected) if e]
    assert rows[1:] == want
    decided = read_decisions(downloads / "decisions.csv", review["path"], CLASSES)
    assert decided["decision"].tolist() == [w[1] for w in want]


@pytest.mark.browser
def test_another_review_starts_empty(browser: Chromium, tmp_path: Path) -> None:
    first, _ = write_page(tmp_path / "first", 8, seed=1)
    second, _ = write_page(tmp_path / "second", 8, seed=2)
    browser.open(first.as_uri())
    browser.press("k")
    browser.press("k")
    browser.open(second.as_uri())
    assert cards(browser) == [""] * 8
    browser.open(first.as_uri())
    assert cards(browser) == ["keep", "keep"] + [""] * 6
