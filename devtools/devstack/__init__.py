"""`make run`'s stack as a newcomer meets it: the `.devstack/env` file that tells manage.py in
a checkout where the stack listens (`env`), and what `make run` sets up and prints once the
web answers: demo boards, the admin login, an API key and the first commands to try
(`welcome`, shown by `manage.py devstack_summary`)."""
