"""The native runtime: the stack as local processes under supervisord, for machines without
a Docker engine. A single-machine demo: it does not isolate users from each other."""
