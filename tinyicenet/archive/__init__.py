"""Archive-scale predict and evaluate on Dask: one task per scene, resumable, fault tolerant.

* :mod:`~tinyicenet.archive.engine`: the cluster (local or an existing scheduler), one task
  per scene with bounded retries, outcomes in completion order, attempt events.
* :mod:`~tinyicenet.archive.tasks`: what a worker runs (model loaded once per process; its GPU).
* :mod:`~tinyicenet.archive.manifest`: ``manifest.json`` in the output folder (client-written,
  atomic): per scene status, product files, sizes, sha256, model/checkpoint identity.
* :mod:`~tinyicenet.archive.predict` / :mod:`~tinyicenet.archive.evaluate`: the two commands
  on that engine. :mod:`~tinyicenet.archive.progress`: the client's progress line.

See docs/archive.md for the CLI, the SLURM recipe and the guarantees.
"""
