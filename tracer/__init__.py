"""tracer: make every copy of a customer list traceable.

Data stewards export fingerprinted copies; investigators attribute leaks;
auditors query the lineage. Each CLI command is a thin shell over a function
here.
"""

from canary.errors import TracerError

from .api import InitResult, attribute, init, list_exports
from .export import ExportReceipt, ExportRequest, export
from .home import Home

__all__ = ["ExportReceipt", "ExportRequest", "Home", "InitResult", "TracerError", "attribute", "export", "init",
           "list_exports"]
__version__ = "0.1.0"
