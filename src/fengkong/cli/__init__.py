"""The ``fengkong`` command line (Typer + Rich).

``main`` is the console-script entry point; ``app`` is the Typer application, for
tests (``typer.testing.CliRunner``) and for embedding.
"""

from fengkong.cli._app import app, main

__all__ = ["app", "main"]
