"""``python -m ttfsnet_nas`` runs the CLI."""

from ttfsnet_nas.cli import main

if __name__ == "__main__":
    main()
