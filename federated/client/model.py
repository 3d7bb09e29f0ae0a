"""FEDn entry point `build`: python model.py [OUT.npz]  (writes the seed model, default ../seed.npz).

Data: the client's working dir from $STACKLAB_FL_CLIENT_DIR (stacklab fl up sets it).
"""

import sys

from stacklab.federated.entry import build

if __name__ == "__main__":
    sys.exit(build(sys.argv[1:]))
