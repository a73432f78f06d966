"""The users network's firewall: what user containers may reach (rules.py, __main__.py)."""
