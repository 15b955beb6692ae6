"""Shared helpers: one home for retry with backoff, progress logging, HTTP paging."""
