"""`python -m reconciler` runs the command line."""

import sys

# guarded, and the command line imported only then: a spawned helper process (see offload)
# imports this module under another name and needs none of it
if __name__ == "__main__":
    from reconciler.cli import console

    sys.exit(console())
