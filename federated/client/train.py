"""FEDn entry point `train`: python train.py IN_MODEL OUT_MODEL  (writes OUT_MODEL and OUT_MODEL-metadata).

Data: the client's working dir from $STACKLAB_FL_CLIENT_DIR (stacklab fl up sets it).
"""

import sys

from stacklab.federated.entry import train

if __name__ == "__main__":
    sys.exit(train(sys.argv[1:]))
