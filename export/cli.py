"""Subcommand for print exports."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """The export subcommand is added by the export work."""
