"""``python -m sourceflow.cli``."""

import sys

from sourceflow.cli import main

sys.exit(main())
