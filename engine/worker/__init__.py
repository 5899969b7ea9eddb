"""Running jobs: the worker loop, one job's execution, leases, handler registry and the
context a handler is given."""
