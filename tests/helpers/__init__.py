"""Helpers shared by the test modules (import them as ``helpers.<module>``)."""
