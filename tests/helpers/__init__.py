"""Helpers shared by the test modules (the fixtures stay in ``conftest.py``)."""
