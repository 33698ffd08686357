"""Helpers the test tiers share: paths, generated photos, waiting on jobs, worker processes."""
