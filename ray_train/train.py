"""What `ray job submit --working-dir ray_train -- python train.py ...` runs.

Thin on purpose: all logic is in the installed stacklab package
(stacklab.mnist.train); this only forwards the arguments to `stacklab train`.
"""

import sys

try:
    from stacklab.cli import run
except ImportError:
    sys.exit("stacklab: error: the stacklab package is not installed here: "
             "run scripts/setup.sh (or use the stacklab image on the Swarm)")

if __name__ == "__main__":
    sys.exit(run(["train", *sys.argv[1:]]))
