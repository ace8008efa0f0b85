"""The WhatsApp channel (Cloud API): signed webhooks in, the outbox out through our Graph client."""
