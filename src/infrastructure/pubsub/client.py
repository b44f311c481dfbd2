"""Building gcloud-aio clients that talk to Pub/Sub, or to its emulator when one is configured."""

from __future__ import annotations

from dataclasses import dataclass

from gcloud.aio.pubsub import PublisherClient, SubscriberClient


@dataclass(frozen=True, slots=True)
class PubSubTarget:
    project: str
    emulator_host: str | None = None

    @property
    def api_root(self) -> str | None:
        return f"http://{self.emulator_host}/v1" if self.emulator_host else None

    def topic_path(self, topic: str) -> str:
        return topic if topic.startswith("projects/") else f"projects/{self.project}/topics/{topic}"

    def subscription_path(self, subscription: str) -> str:
        if subscription.startswith("projects/"):
            return subscription
        return f"projects/{self.project}/subscriptions/{subscription}"

    def publisher(self) -> PublisherClient:
        if self.emulator_host:
            return PublisherClient(api_root=self.api_root, api_is_dev=True)
        return PublisherClient()

    def subscriber(self) -> SubscriberClient:
        if self.emulator_host:
            return SubscriberClient(api_root=self.api_root, api_is_dev=True)
        return SubscriberClient()
