"""The `dispatcher` subcommands, one module per area; `dispatcher.cli` registers them."""
