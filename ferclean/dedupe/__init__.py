"""Duplicate search: perceptual hashes, pair search, clusters, resolution and report."""
