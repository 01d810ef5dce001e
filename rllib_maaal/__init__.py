"""rllib_maaal: hierarchical allocation-action learning for Ray RLlib.

Importing the package registers our environments (``maaal/city``, ``maaal/intern``,
``maaal/football``) and algorithms (``MAAAL``, ...) with Ray Tune, so YAML files and user scripts
can name them.
"""

import sys
from pathlib import Path

from rllib_maaal.registry import register

__version__ = "0.1.0"


def _started_as_command() -> bool:
    """Whether this import is the ``rllib`` command starting (its script, or ``python -m
    rllib_maaal``, whose package is imported while ``sys.argv[0]`` is still ``-m``)."""
    return Path(sys.argv[0]).name == "rllib" or sys.argv[0] == "-m" if sys.argv else False


# The command registers when it starts Ray, so that ``rllib --help`` and bad input answer
# without importing Ray (seconds); any other import registers at once.
if not _started_as_command():
    register()

__all__ = ["register", "__version__"]
