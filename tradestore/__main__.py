import sys

from tradestore.cli import main

sys.exit(main())
