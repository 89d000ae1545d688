"""Behaviour evaluation: a fixed bilingual suite, runs with manifests, metrics with intervals, compare, gate."""
