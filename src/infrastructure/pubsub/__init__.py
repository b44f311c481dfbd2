"""Google Pub/Sub over REST (gcloud-aio-pubsub): the FDR subscription and the activity topic."""
