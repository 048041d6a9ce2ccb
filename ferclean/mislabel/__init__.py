"""Doubtful labels: a probe model judging every image, confident-learning scores, a review page,
decisions.

``review`` is the whole step; ``decisions.apply_decisions`` and ``decisions.auto_relabel``
write a reviewer's (or the probe's confident) choices back into a manifest.
"""

from ferclean.mislabel.decisions import apply_decisions, auto_relabel, read_decisions
from ferclean.mislabel.pipeline import PROBES, ReviewResult, review

__all__ = ["PROBES", "ReviewResult", "apply_decisions", "auto_relabel", "read_decisions", "review"]
