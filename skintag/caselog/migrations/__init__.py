"""Alembic migrations of the case log, shipped inside the package and applied by :mod:`skintag.caselog.db` when a
log is opened (``versions/`` holds one script per schema revision; it has no ``__init__.py`` because Alembic reads
every ``.py`` file there as a revision)."""
