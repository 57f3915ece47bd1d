"""The local AWS: moto server with portico's emulator patch, the local stack (template.yaml deployed), the stream
poller."""
