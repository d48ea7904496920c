"""`python -m gpusettle.cli`."""

from .main import main

main()
