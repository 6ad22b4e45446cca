"""Bytewax dataflows: the Redis Streams connector, context gathering, synthesis, write-back."""
