"""Print-ready merchandise files: tee, sticker, mug.

    from export import export_product, plan_export, print_pixels, product_preview
    from export.preflight import preflight

They are imported on first use, so ``stylebooth --help`` (which imports
``kiosk.cli.export``) does not load the imaging and PDF libraries. (The preflight is imported
from its module: a package attribute of the same name as the submodule would be replaced by
the module as soon as anything imports ``export.preflight``.)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_API = {
    "export_product": "export.api",
    "plan_export": "export.api",
    "ExportPlan": "export.api",
    "ExportResult": "export.api",
    "ExportError": "export.specs",
    "print_pixels": "export.specs",
    "product_preview": "export.preview",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'export' has no attribute {name!r}")
    return getattr(import_module(_API[name]), name)
