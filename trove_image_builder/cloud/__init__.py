"""The cloud's services: the connection, one way to call them, and the
Glance, quota and flavor calls the later steps make."""
