"""DATA ACCESS: every OpenSearch query of the service lives in this package.

``Engine`` wraps the client and index names; one module per document kind reads and
writes it; ``BulkWriter`` groups writes. Callers above (chat/) never build a query.
"""
from chatsvc.store.bulk import BulkWriter, Op, OpResult
from chatsvc.store.engine import Engine

__all__ = ["Engine", "BulkWriter", "Op", "OpResult"]
