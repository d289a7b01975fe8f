"""tracer: make every copy of a customer list traceable.

Data stewards export fingerprinted copies; investigators attribute leaks;
auditors query the lineage. Each CLI command is a thin shell over a function
here.
"""

from canary.errors import TracerError

from .api import InitResult, attribute, init, list_exports
from .export import ExportReceipt, ExportRequest, export
from .home import Home
from .integrity import LedgerMismatch, ledger_head, rotate_key, verify

__all__ = ["ExportReceipt", "ExportRequest", "Home", "InitResult", "LedgerMismatch", "TracerError", "attribute",
           "export", "init", "ledger_head", "list_exports", "rotate_key", "verify"]
__version__ = "0.1.0"
