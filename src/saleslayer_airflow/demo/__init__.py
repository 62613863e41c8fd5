"""The demo: generated ERP exports, and the local servers that serve them."""

from __future__ import annotations
