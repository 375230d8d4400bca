"""``python -m host_app``: run the example (see :mod:`host_app.app`)."""

import sys

from host_app.app import main

sys.exit(main())
