"""Fintech: transactions, sessions, savings circles and remittances (fintech.*)."""
