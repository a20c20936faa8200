"""settlement models arrive with their issue."""
