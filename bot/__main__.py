"""`python -m bot` is the `backend-engineer` command."""

import sys

from bot.cli import main

sys.exit(main())
