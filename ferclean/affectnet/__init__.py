"""Bring AffectNet faces into a target dataset: read its layouts, map, convert, balance, merge.

``merge_affectnet`` is the whole step.
"""

from ferclean.affectnet.merge import MergeResult, merge_affectnet

__all__ = ["MergeResult", "merge_affectnet"]
