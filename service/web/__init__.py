"""The HTTP surface: app factory, routes and views."""
