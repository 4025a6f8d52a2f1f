#!/usr/bin/env python3
"""Run one session. Double-click a launcher, or: python run_experiment.py --help"""

import sys

from experiment.launcher import main

if __name__ == "__main__":
    sys.exit(main())
