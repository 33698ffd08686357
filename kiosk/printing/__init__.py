"""On-site photo prints through CUPS: the IPP client (``ipp``, ``cups``), the ``prints``
table's queries (``book``) and the booth server's spooler (``spooler``).

``printer_status(settings)`` is the printer's state as the booth sees it (``stylebooth
doctor`` prints it too).
"""

from kiosk.printing.cups import PrinterStatus, printer_status

__all__ = ["PrinterStatus", "printer_status"]
