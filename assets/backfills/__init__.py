"""Re-enhancing tickets over a tenant and a date range."""
