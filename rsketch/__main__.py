"""``python -m rsketch``: the same as the ``rsketch`` command."""

import sys

from .cli import main

sys.exit(main())
