import sys

from zmesos.cli import main

sys.exit(main())
