"""Benchmarks: the image path, the status hot path against a bare app, and the
near-duplicate cache's radius sweep."""
