"""Stage 4: the run's balanced report."""

from __future__ import annotations
