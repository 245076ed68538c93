"""Backends turn cases into observations. They never judge, and never import each other."""
