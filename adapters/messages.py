"""Publishing messages: an abstract publisher and its Pub/Sub adapter."""

from __future__ import annotations

import abc


class Publisher(abc.ABC):
    @abc.abstractmethod
    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        """Publish and wait for the server's ack; returns the message id."""


class PubSubPublisher(Publisher):
    def __init__(self, client, project: str, timeout: float = 30.0):
        self._client = client
        self._project = project
        self._timeout = timeout

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        path = self._client.topic_path(self._project, topic)
        return self._client.publish(path, data, **attributes).result(timeout=self._timeout)
