"""twapserver: the FastAPI service, collectors and paper-trading engine of twap."""
