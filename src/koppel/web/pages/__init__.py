"""The workspace's pages, one router per part: accounts, sync monitor, order entry, analytics."""
