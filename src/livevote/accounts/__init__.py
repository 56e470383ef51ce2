"""Accounts: register, login, profile (seed 002's API)."""
