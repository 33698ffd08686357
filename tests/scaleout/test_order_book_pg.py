"""tests/unit/test_order_book.py on PostgreSQL: order numbers under concurrency, the order
lifecycle with the database's times, the print desk's lists."""

from tests.unit.test_order_book import *  # noqa: F403
