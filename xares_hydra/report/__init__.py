"""Stage 4, report: result records, summaries, leaderboards and the sweep callbacks that write them."""
