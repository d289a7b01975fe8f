"""Build the optional native PRF core (canary/_prfcore.c).

Everything is configured in pyproject.toml; this file exists only because an
extension module needs setup(). The extension is optional: where no C
compiler is found the install still succeeds and tracer computes the same
HMACs with DuckDB's sha256() instead (slower, identical results).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("canary._prfcore", ["canary/_prfcore.c"], optional=True,
                             extra_compile_args=["-O3"], extra_link_args=["-lpthread"])])
