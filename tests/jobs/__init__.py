"""Tests for reelflow.jobs."""
