"""Subcommands for rendering: stylize, cutout, compose."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Rendering subcommands are added by the style-engine and cut-out work."""
