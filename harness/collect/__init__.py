"""Collectors sampled during a run: queues, Redis, Prometheus endpoints, processes by tier."""
