"""Ray Tune of the forest-cover RandomForest; what `ray job submit` runs.

    ray job submit --working-dir ray_tuning -- python tune.py --smoke-test
"""

import sys

from stacklab.cli import run

if __name__ == "__main__":
    sys.exit(run(["tune", *sys.argv[1:]]))
