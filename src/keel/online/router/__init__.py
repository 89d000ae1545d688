"""The behaviour router: what a customer message needs, learned from example banks."""
