"""``python -m ionscreen.cli``: the ``ionscreen`` command."""

import sys

from ionscreen.cli import main

sys.exit(main())
