"""``stylebooth doctor``: check the booth is ready for an event (kiosk/doctor.py)."""

from __future__ import annotations

import argparse

from kiosk.config import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check the booth is ready for an event (exit 1 if anything fails)",
        description="Check each part an event needs: the kiosk browser's camera permission "
        "and page, the address phones reach (and that it answers, when the booth runs), free "
        "disk, the models, a live render worker, the printer. One line per check: OK, FAIL "
        "with its fix, or SKIP with the reason. Changes nothing.",
    )
    doctor.set_defaults(handler=doctor_command)


def doctor_command(_args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.doctor import report_line, run_checks

    results = []
    for check in run_checks(settings):
        print(report_line(check), flush=True)
        results.append(check)
    failed = sum(check.ok is False for check in results)
    print(f"{failed} check{'s' if failed != 1 else ''} failed" if failed else "ready")
    return 1 if failed else 0
