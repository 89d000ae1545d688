"""Model backends: the local packaged model, any OpenAI-compatible server, a scripted model."""

from keel.online.model.base import Generation, GenerationRequest, ModelBackend
from keel.online.model.parse import Proposal, parse_proposal

__all__ = ["Generation", "GenerationRequest", "ModelBackend", "Proposal", "parse_proposal"]
