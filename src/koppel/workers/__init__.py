"""Who runs koppel's jobs: koppel's own queue in the store, in one process (the embedded default
on SQLite), or Procrastinate's workers on PostgreSQL, on any number of machines (fleet.py).

The job code is the same for both (`koppel.engine.jobs.run_job`); only the runner differs.
queue.py gives the front ends one way to queue and list jobs, whichever runs them.
"""
