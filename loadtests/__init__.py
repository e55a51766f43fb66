"""Locust users and load shapes that act like the mobile app, on Locust's master/worker runner.

``python -m loadtests --scenario smoke --base-url URL --out DIR`` (see :mod:`loadtests.master`);
``python -m loadtests.worker --master HOST:PORT`` is one worker (:mod:`loadtests.worker`).

Only :mod:`loadtests.master`, :mod:`loadtests.worker`, :mod:`loadtests.user` and
:mod:`loadtests.shape` import locust, which gevent-patches the whole process: they run in the
master's and the workers' processes, never in the harness or pytest. Everything else here is
plain Python.
"""
