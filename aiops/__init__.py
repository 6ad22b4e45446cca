"""Shared core of AI Ops: settings, the event contract, crypto, logging, embedded servers."""
