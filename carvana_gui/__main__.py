"""`python -m carvana_gui [FOLDER]`."""

import sys

from carvana_gui.app import main

sys.exit(main())
