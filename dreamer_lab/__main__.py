import sys

from dreamer_lab.cli import main

sys.exit(main())
