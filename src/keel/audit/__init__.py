"""Audit of historical human-agent dialogs before fine-tuning (DESIGN §2).

read → analyse (per dialog) → cluster (questions) → policy (pinned KB) → findings → route → report.
The typed entry point is :func:`keel.audit.run.run_audit`.
"""
