"""Leak-free, class-stratified re-splitting of a manifest."""
