"""The leaderboard is generated from submission records, never edited by hand."""
