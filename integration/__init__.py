"""The real small OpenStack (minicloud) and end-to-end scenarios."""
