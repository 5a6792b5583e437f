"""`python -m tests.fuzz`: the fuzz campaign (tests/fuzz/runner.py)."""

from __future__ import annotations

import sys

from tests.fuzz.runner import main

sys.exit(main())
