"""Red-line rules: deterministic, YAML, explicit priorities, every hit traced."""

from keel.online.rules.engine import evaluate_rules
from keel.online.rules.schema import Constraint, RuleHit, RuleSet, RuleVerdict, load_rules

__all__ = ["Constraint", "RuleHit", "RuleSet", "RuleVerdict", "evaluate_rules", "load_rules"]
