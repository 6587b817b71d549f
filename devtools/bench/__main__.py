"""Entry point of ``python -m devtools.bench`` (``make bench``)."""

from devtools.bench.cli import main

main()
