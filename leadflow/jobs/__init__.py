"""Long work (an import, its undo, rescoring every lead, a bulk action, a long export): one way
to claim it, run it, resume it.

A job is a row of its area's own table (``import_jobs``, ``rescore_jobs``, ``bulk_jobs``,
``export_jobs``) with a ``status``, its progress, and a lease (``lease_owner``, ``lease_until``). ``leadflow.jobs.leases`` claims
and renews that lease; ``leadflow.jobs.runner`` holds the registry of job kinds, runs a
claimed job, and has the one ``jobs`` sweep that the scheduler ticks. A request that starts a
job only queues its row and nudges the scheduler once the request has committed
(``runner.start``): it never starts a thread. See the docstring of ``leadflow.jobs.runner`` for the whole life of a job.
"""
