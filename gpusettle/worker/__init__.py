"""The GPU worker: watches the chain for jobs on its provider's offers, runs them, meters them, signs
receipts with the worker key and hands them to the oracle (`gpusettle worker run`)."""
