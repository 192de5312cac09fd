"""`python -m reconciler` runs the command line."""

import sys

from reconciler.cli import main

# guarded: a spawned helper process (see offload) imports this module under another name
if __name__ == "__main__":
    sys.exit(main())
