import sys

from settlement.devnet.cli import main

sys.exit(main())
