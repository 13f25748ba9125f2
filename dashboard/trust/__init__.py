"""Trust you can check: the live isolation self-test and the public /trust page."""
