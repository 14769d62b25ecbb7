"""Load runs: many calls of one scenario, on worker processes or Ray actors (docs/load.md).

- ``plan``: the scenario made into one numbered call, the arrival schedule, each worker's share;
- ``call``: one call played by ``Runner`` with load agents (signaling only, or counting media);
- ``worker``: a worker's event loop: places its calls, streams per-second aggregates;
- ``server``: the embedded server in its own process;
- ``local`` and ``ray_workers``: the two ways of running workers, behind one interface;
- ``controller``: starts all of it, merges what workers send, judges thresholds, builds the report.
"""
