"""Tests of the Python client (clients/python) against real servers."""
