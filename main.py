"""Pretext Workbench. `python main.py` opens the desktop app; `python main.py --help` lists the commands."""
import sys

from workbench.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
