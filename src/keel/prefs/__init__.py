"""Preference pairs: candidates per prompt, judged by the rule judge or a human, written for TRL and LLaMA-Factory."""
