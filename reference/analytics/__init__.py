"""Analytics of the waste jobs: per-day statistics, their totals and reports (the batch tier)."""
