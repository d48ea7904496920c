"""`python -m gpusettle.worker run ...` (the same as `gpusettle worker run ...`)."""

from .cli import worker

if __name__ == "__main__":
    worker(prog_name="python -m gpusettle.worker")
