"""The versioned knowledge base: documents, versions, indexes and retrieval."""
