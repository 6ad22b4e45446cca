"""PostgreSQL: migrations (the only DDL), tenant-scoped sessions, repositories."""
