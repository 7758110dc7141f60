"""The push benchmark behind `manage.py bench_push`: `feed` feeds the board and times each
change's apply, `client` holds the subscribers (a process of its own, which imports
neither Django nor the rest of this package), `servers` starts the stream servers and reads
their memory and CPU, `run` puts it together."""
