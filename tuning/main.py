"""Default-parameter RandomForest, cross-validated: `python tuning/main.py [--data train.csv]`."""

import sys

from stacklab.cli import run

if __name__ == "__main__":
    sys.exit(run(["baseline", *sys.argv[1:]]))
