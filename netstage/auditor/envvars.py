"""Environment variables set for a block and restored after it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["environ_set"]


@contextmanager
def environ_set(extra: dict[str, str]) -> Iterator[None]:
    """Set ``extra`` in ``os.environ`` for the block, then restore each variable to its
    earlier value (or remove it when it was unset), also when the block raises."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
