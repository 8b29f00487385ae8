"""This package holds wirewatch's data files: the example config and the watchlists."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The bundled file `name` (e.g. 'entities.yaml'), wherever the package is installed."""
    return CONFIG_DIR / name
