import sys

from clauseguard.cli import main

sys.exit(main())
