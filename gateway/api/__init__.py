"""The registry API (FastAPI): technicians, operators, health and metrics."""
