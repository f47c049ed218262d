"""``python -m robustkit`` runs the command line."""

import sys

from robustkit.cli import main

sys.exit(main())
