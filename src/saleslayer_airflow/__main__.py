"""`python -m saleslayer_airflow ...`: see saleslayer_airflow.cli."""

from __future__ import annotations

import sys

from saleslayer_airflow.cli import main

sys.exit(main())
