"""Builders, servers and helpers the tests share: none of it is a test."""
