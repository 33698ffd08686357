"""The render queue, kept in the database so it survives restarts of server and worker.

Laid out the way procrastinate is:

* ``jobs``: the data (a claimed job, its options, the lane and status sets), no queries;
* ``manager``: every query on jobs, results and workers; callers run its functions in a
  transaction (the server through ``kiosk.dbio.run_db``, the worker through ``in_session``);
* ``worker``: the worker process (lanes, heartbeat, recovery, signals), calling only the
  manager;
* ``tasks``: the fast and HQ job bodies, each given a ``JobContext``; ``print_job``: the
  print job's body (the painting at print size, then its orders' files).

The guest's JSON view of a job is ``kiosk.job_view``, beside the routes that serve it.
"""
