"""`python -m kmsguard` is the `kmsguard` command."""

from kmsguard.cli import main

main()
