"""Stage 1, data: task specs, downloads and generated demo sets, tar shards, audio decoding, labels."""
