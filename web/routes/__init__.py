"""HTTP routes, one module per context."""
