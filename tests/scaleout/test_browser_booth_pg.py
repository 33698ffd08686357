"""One browser flow on PostgreSQL: a guest from the attract screen through the camera, the
paintings and the download to an order (tests/e2e/test_browser_booth.py), the server and its
render worker sharing the test's database."""

from tests.e2e.test_browser_booth import (  # noqa: F401  (the module's fixtures, and the test)
    booth,
    browsers,
    test_camera_flow_from_attract_to_order,
)
