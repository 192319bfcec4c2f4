import sys

from pipeline.cli import main, set_threads

set_threads()
sys.exit(main())
