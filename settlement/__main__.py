"""`python -m settlement <command>`; the commands live in settlement/cli.py."""

from settlement.cli import main

raise SystemExit(main())
