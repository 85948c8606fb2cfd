"""`python -m calbridge.cli`: the same as the `calbridge` command."""

from __future__ import annotations

import sys

from calbridge.cli import main

sys.exit(main())
