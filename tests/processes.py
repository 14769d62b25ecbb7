"""What became of the processes a command started: the tests that kill a command check none outlives it."""

from __future__ import annotations

import psutil


def descendants(root: int) -> set[int]:
    """Every process below ``root`` now (none once ``root`` is gone)."""
    try:
        return {child.pid for child in psutil.Process(root).children(recursive=True)}
    except psutil.Error:
        return set()


def running(pid: int) -> bool:
    """``pid`` exists and is not a zombie nobody reaped yet."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
