import sys

from green_chain.cli import main

sys.exit(main())
