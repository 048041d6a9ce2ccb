"""Figures, contact sheets and summary tables: drawing only, no decisions."""
