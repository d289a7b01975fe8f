"""tracer: make every copy of a customer list traceable.

Data stewards export fingerprinted copies; investigators attribute leaks;
auditors query the lineage. Each CLI command is a thin shell over a function
here.
"""

from ._malloc import limit_arenas

limit_arenas()  # before DuckDB starts its threads: see tracer/_malloc.py

from canary.errors import TracerError  # noqa: E402

from .api import InitResult, attribute, init, list_exports  # noqa: E402
from .export import ExportReceipt, ExportRequest, export  # noqa: E402
from .home import Home  # noqa: E402
from .integrity import LedgerMismatch, ledger_head, rotate_key, verify  # noqa: E402

__all__ = ["ExportReceipt", "ExportRequest", "Home", "InitResult", "LedgerMismatch", "TracerError", "attribute",
           "export", "init", "ledger_head", "list_exports", "rotate_key", "verify"]
__version__ = "0.1.0"
