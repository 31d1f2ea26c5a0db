"""clauseguard: legal documents for AI products, and the runtime guards that enforce them.

The package is split in four parts that live in four top-level folders of the repository:
``clauseguard.generator`` (authoring), ``clauseguard.guards`` (runtime), and the lawyer-owned data
``clauseguard.clauses`` and ``clauseguard.templates``. Importing this package imports nothing heavy.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
