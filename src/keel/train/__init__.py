"""Behaviour fine-tuning as a converger: LoRA SFT (tone) and DPO (when to stop) with TRL + PEFT."""
