"""Urbanization statistics: figures per area and month end, snapshots, targets, balance, reports.

See docs/statistics.md for the definitions. Reads only ``population`` tables through the ORM;
the balance reads ``registry_registrationevent`` by raw SQL over the table name, so the package
imports no higher app.
"""
