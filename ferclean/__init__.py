"""ferclean: clean, de-duplicate, re-split and balance facial-expression image datasets."""

__version__ = "0.1.0"
