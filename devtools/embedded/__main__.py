"""`python -m devtools.embedded serve postgres|valkey|kafka` (devtools/embedded/serve.py)."""

import sys

from devtools.embedded.serve import main

sys.exit(main())
