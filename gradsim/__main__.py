"""``python -m gradsim``: the same as the ``gradsim`` command."""

import sys

from gradsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
