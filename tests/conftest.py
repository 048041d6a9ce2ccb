"""Shared fixtures: small generated face-like images and dataset trees."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from headless_chromium import Chromium, find_chromium
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def synthetic_face(seed: int, size: int = 48) -> Image.Image:
    """A smooth random greyscale pattern: distinct seeds give perceptually distinct images."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(6, 6), dtype=np.uint8)
    return Image.fromarray(coarse, mode="L").resize((size, size), Image.Resampling.BICUBIC)


@pytest.fixture
def make_image() -> Callable[..., Path]:
    """``make_image(path, seed, size=48)`` writes a synthetic face and returns its path."""

    def _make(path: Path, seed: int, size: int = 48) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_face(seed, size).save(path)
        return path

    return _make


@pytest.fixture
def make_dataset(make_image: Callable[..., Path]) -> Callable[..., Path]:
    """``make_dataset(root, {"train": {"happy": 5, ...}, ...})`` writes distinct images.

    A flat layout is ``{"": {"happy": 5}}``. Seeds are unique per image, so the tree
    holds no duplicates unless a test adds some.
    """

    def _make(root: Path, spec: dict[str, dict[str, int]], size: int = 48, start_seed: int = 0) -> Path:
        seed = start_seed
        for split, classes in spec.items():
            for label, count in classes.items():
                for i in range(count):
                    make_image(root / split / label / f"{label}_{split or 'all'}_{i:04d}.png", seed, size)
                    seed += 1
        return root

    return _make


@pytest.fixture(scope="session")
def fer2013() -> Path:
    """The real FER2013 tree in ../shared/data (read-only); skips where it is absent."""
    path = SHARED_DATA / "fer2013"
    if not path.is_dir():
        pytest.skip("../shared/data/fer2013 is not available")
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The number of injected faults test_faults.py saw survived (docs/reliability.md)."""
    import sys

    module = sys.modules.get("test_faults")
    faults = getattr(module, "FAULTS", None)
    if faults:
        detail = ", ".join(f"{name} {count}" for name, count in faults.items())
        terminalreporter.write_line(f"faults survived: {sum(faults.values())} ({detail})")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    """Headless Chromium on a fresh profile; skips where Debian's chromium is not installed."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    chromium = Chromium(binary, tmp_path / "profile")
    yield chromium
    chromium.close()
