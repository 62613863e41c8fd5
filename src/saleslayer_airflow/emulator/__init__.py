"""A local Sales Layer: the Import Connector API and the Catalog REST API v2 over real HTTP.

Run it with ``python -m saleslayer_airflow.emulator --port 8090 --data ./sl.sqlite``; start it
from tests with :func:`saleslayer_airflow.emulator.server.run_in_thread`. docs/emulator.md says
what it does and which readings of the public docs it picked.
"""

from __future__ import annotations

__all__: list[str] = []
