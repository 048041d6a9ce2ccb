"""Find doubtful labels: out-of-fold probabilities from a probe model, confident-learning
scores, a review page, and applying a reviewer's decisions to a manifest."""
