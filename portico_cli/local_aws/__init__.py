"""The local AWS: moto server with portico's emulator patch, the bootstrap of the shared stack, the stream poller."""
