"""One module per ticketing system: verify, normalize, fetch, write back."""
