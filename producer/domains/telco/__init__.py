"""Telco: accounts, lines and devices (telco.accounts)."""
