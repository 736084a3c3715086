"""``python -m openfer``: the same command line as the ``openfer`` script."""

import sys

from openfer.cli import main

sys.exit(main())
