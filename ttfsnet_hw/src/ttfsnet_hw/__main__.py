"""``python -m ttfsnet_hw`` runs the ``ttfsnet-hw`` command line."""

from ttfsnet_hw.cli import main

raise SystemExit(main())
