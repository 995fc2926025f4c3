"""``python -m seqlab.cli`` (and ``torchrun -m seqlab.cli``) runs the command line."""

import sys

from seqlab.cli import main

sys.exit(main())
