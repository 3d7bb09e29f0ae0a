"""FEDn entry point `startup`: python data.py  (checks this client's data partition).

Data: the client's working dir from $STACKLAB_FL_CLIENT_DIR (stacklab fl up sets it).
"""

import sys

from stacklab.federated.entry import startup

if __name__ == "__main__":
    sys.exit(startup(sys.argv[1:]))
