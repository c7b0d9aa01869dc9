"""The config side: typed schemas (also the stages' arguments), checks, suites, instantiate, help.

Importing this package imports nothing else (``xares --help`` reads ``quick_help`` without torch)."""
