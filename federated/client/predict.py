"""FEDn entry point `predict`: python predict.py IN_MODEL OUT_JSON.

Data: the client's working dir from $STACKLAB_FL_CLIENT_DIR (stacklab fl up sets it).
"""

import sys

from stacklab.federated.entry import predict

if __name__ == "__main__":
    sys.exit(predict(sys.argv[1:]))
