"""``python -m hwprune``: the ``hwprune`` command line (:mod:`hwprune.cli`)."""

import sys

from .cli import main

if __name__ == '__main__':  # pragma: no cover - run as a program
    sys.exit(main())
