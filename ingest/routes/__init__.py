"""One router per concern: webhooks, health, metrics."""
