"""rllib_maaal: hierarchical allocation-action learning for Ray RLlib.

Importing the package registers our environments (``maaal/city``, ``maaal/intern``,
``maaal/football``) and algorithms (``MAAAL``, ...) with Ray Tune, so YAML files and user scripts
can name them.
"""

from rllib_maaal.registry import register

__version__ = "0.1.0"

register()

__all__ = ["register", "__version__"]
