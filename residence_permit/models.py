"""residence_permit models arrive with their issue."""
