"""Core: the service's policy and primitives.

Two-factor, login throttling, permissions, identities, device parsing, client IPs and the
cryptography under them. Knows no Flask and nothing of the web layer.
"""
