"""Outputs of a load run (docs/load.md#outputs): live view, console summary, JSON, CSV, JUnit, HTML.

Each reads a ``LoadReport`` (or, live, a ``LiveSnapshot``) and nothing else.
"""
