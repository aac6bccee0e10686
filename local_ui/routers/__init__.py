"""Routers: one per screen/area; pages and their JSON API share services."""
