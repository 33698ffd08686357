"""tests/e2e/test_worker.py on PostgreSQL: a killed worker loses nothing and the next one
finishes; a print render stopped midway is finished by the next worker (real worker
processes, the real models)."""

from tests.e2e.test_worker import *  # noqa: F403
