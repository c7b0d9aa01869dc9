"""The offline demo's synthesisers: seeded audio (``signals``), reproducible shards (``shards``) and the demo
tasks' generators (``tasks``). The tests' stand-in X-ARES datasets are written with the same pieces."""
