"""The HTTP service: `clauseguard serve` (FastAPI), its API and its server-rendered pages."""
