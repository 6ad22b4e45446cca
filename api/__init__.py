"""The management API: tenants, their ticket history and enhancement results."""
