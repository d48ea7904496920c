"""`python -m gpusettle.oracle run ...` (the same as `gpusettle oracle run ...`)."""

from .cli import oracle

if __name__ == "__main__":
    oracle(prog_name="python -m gpusettle.oracle")
