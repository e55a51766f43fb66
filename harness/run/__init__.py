"""One run of a scenario: the runner's phases (options, stack, collectors, faults, load,
settle, judge, report), the load driven on Locust's master, what is watched during it, the
faults and their recovery, the observations the gates judge, and the capacity search."""
