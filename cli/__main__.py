"""`python -m cli …`: the `aiops` command where its console script is not installed."""

from cli.main import app

app(prog_name="aiops")
