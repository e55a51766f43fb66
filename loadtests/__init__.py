"""Locust users and load shapes that act like the mobile app, and the runner that drives them.

``python -m loadtests --scenario smoke --base-url URL --out DIR`` (see :mod:`loadtests.runner`).

Only :mod:`loadtests.process`, :mod:`loadtests.user` and :mod:`loadtests.shape` import locust,
which gevent-patches the whole process: they run in the Locust child processes, never in the
runner's process, the harness or pytest. Everything else here is plain Python.
"""
