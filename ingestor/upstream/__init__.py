"""The upstream side: rate-limited sockets that stay connected, and the pool that spreads addresses."""
