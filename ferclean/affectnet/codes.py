"""AffectNet's expression codes and the names its releases use for them."""

from __future__ import annotations

#: Official AffectNet expression codes (``expression`` column, ``_exp.npy`` files, numbered folders).
OFFICIAL_CODES: dict[int, str] = {
    0: "Neutral",
    1: "Happiness",
    2: "Sadness",
    3: "Surprise",
    4: "Fear",
    5: "Disgust",
    6: "Anger",
    7: "Contempt",
    8: "None",
    9: "Uncertain",
    10: "No-Face",
}

#: Lower-cased names of codes 8-10, which carry no usable expression label (the face is
#: skipped), in every spelling a layout may use for them.
UNUSABLE_NAMES: frozenset[str] = frozenset({"none", "uncertain", "no-face", "noface", "no_face"})

#: Class order of the "YOLO format" re-release when its data.yaml is missing.
YOLO_NAMES: tuple[str, ...] = ("Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")


def is_unusable(name: str) -> bool:
    """True for the None / Uncertain / No-Face pseudo-classes, whatever their spelling."""
    return name.strip().lower() in UNUSABLE_NAMES


def code_name(code: int) -> str:
    """Official name of ``code``; unknown codes become ``code N`` so they are reported, not lost."""
    return OFFICIAL_CODES.get(int(code), f"code {int(code)}")
