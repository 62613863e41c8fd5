"""Stage 3: send each table's changes to Sales Layer, resumably, with balanced counts."""

from __future__ import annotations
