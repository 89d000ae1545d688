"""The web console: handoff inbox, conversations with traces, and the knowledge base (``/console``)."""
