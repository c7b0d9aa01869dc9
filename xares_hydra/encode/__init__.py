"""Stage 2, encode: which encoder runs, its fingerprint and contract, and the embedding cache it fills."""
