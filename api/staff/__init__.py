"""The staff API (/api/v1/staff/): one module per kind of data it serves, each next to its filters."""
