"""Shared building blocks: configuration, types, persistence, calendar and security."""
