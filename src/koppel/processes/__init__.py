"""Business processes that are more than field copies: order entry (R7) and friends."""
