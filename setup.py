"""The one thing pyproject.toml cannot declare: the optional compiled decoder.

``cmsdials._speedups`` (C, no dependencies) decodes th1/th2 pages into columns several
times faster than the pure-Python path.  ``optional=True``: where it cannot be compiled
(no C compiler), the package installs without it and decodes pages with pysimdjson.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("cmsdials._speedups", ["src/cmsdials/_speedups.c"], optional=True),
    ]
)
