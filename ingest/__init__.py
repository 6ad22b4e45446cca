"""The webhook receiver: verify, normalize, enqueue to Redis Streams, answer 202."""
