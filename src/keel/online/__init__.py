"""The online path: one customer message from red-line rules to reply or handoff."""
