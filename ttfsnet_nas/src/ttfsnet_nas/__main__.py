"""``python -m ttfsnet_nas`` runs the CLI (also as a ``torchrun`` rank: ``torchrun ... -m ttfsnet_nas``)."""

import os
import sys

from ttfsnet_nas.cli import main

if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            raise
        # A torchrun rank has left its process group and rank 0 has written its files: skip interpreter
        # finalization, where gloo's threads can still be tearing down and abort a run that succeeded.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exc.code if isinstance(exc.code, int) else int(exc.code is not None))
