"""Media worker processes: supervision, control channel, shared memory."""
