"""Thunderbird and SeaMonkey profiles (``thunderbird`` plugin)."""
