"""Webhooks: signed HTTP callbacks (Standard Webhooks) when a board starts or is finalised.

Hears leaderboards through its domain signals (receivers.py), stores one message per
event and board and one delivery per endpoint (models.py), and delivers each at least
once from Celery (tasks.py, services.py), to an address checked against SSRF
(addresses.py) and pinned for the connection (transport.py). docs/webhooks.md is the
guide for receivers.
"""
