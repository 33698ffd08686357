"""Subcommands: cutout, compose."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Added by the cut-out work."""
