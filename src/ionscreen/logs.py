"""Logging for workflow jobs and the command line."""

from __future__ import annotations

import logging
import os
import sys
import warnings


def setup(log_path: str | os.PathLike[str] | None = None, level: int = logging.INFO) -> None:
    """Log to ``log_path`` (a rule's log file) and to stderr; silence library deprecation noise.
    sevenn's warning that no tensor-product accelerator is enabled stays (``mlip.accelerator``)."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=level, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
