"""Bring AffectNet faces into a target dataset: read its layouts, map, convert, balance, merge."""
