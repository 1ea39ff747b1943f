"""The chat service and the runtime every surface shares."""
