"""``python -m specscale`` runs the command line."""

import sys

from specscale.cli import main

sys.exit(main())
