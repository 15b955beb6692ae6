"""Errors raised by the lake. Each message names the dataset, partition or path it is about."""

from __future__ import annotations


class LakeError(Exception):
    """A lake operation failed; nothing was published by the failing step."""


class CommitConflictError(LakeError):
    """Another attempt committed, or is committing, the same partition: this attempt must not publish."""
