"""macmatrix: which ways of asking for a MAC really land on a pod's interfaces, per stack."""

__version__ = "0.1.0"
