"""Poll feed (seed 002): polls with tags, a per-user feed, votes, skips, daily limits, stats."""
