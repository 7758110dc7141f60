"""The workbench: benchmarks, the embedded services of `make run` and `make test`, and what
they share. Not product code: the Docker image does not ship this package (.dockerignore)
and production settings do not install it (config/settings/base.py, DJANGO_DEVTOOLS)."""
