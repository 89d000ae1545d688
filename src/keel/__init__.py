"""Keel: a customer-service AI system that stays steady.

The online path (``keel.online``) handles one customer message: red-line rules, runtime user
state, retrieval over a versioned knowledge base, a model that proposes, a decision that obeys
rule priority, an output guard, the handoff queue and a trace. The offline path (``keel.eval``,
``keel.audit``, ``keel.prefs``, ``keel.train``) governs fine-tuning.
"""

__version__ = "0.1.0"
