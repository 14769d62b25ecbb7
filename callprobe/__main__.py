import sys

from callprobe.cli import main

sys.exit(main())
