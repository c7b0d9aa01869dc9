"""The leaderboard page's template, script and style (package data of ``xares-report --html``)."""
