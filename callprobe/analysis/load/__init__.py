"""The pure side of repeated and load runs: call records, exact aggregates, thresholds.

Nothing here touches a worker, a socket or a peer: workers turn each call into
a ``CallRecord`` and add it to an ``Aggregate``; aggregates travel between
processes as plain data (``Aggregate.to_wire``) and merge exactly, HDR
histograms included (docs/load.md#how-figures-are-merged).
"""
