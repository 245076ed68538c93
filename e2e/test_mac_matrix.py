"""The MAC matrix: one test per case of e2e/matrix.yaml (or --matrix FILE).

The test itself ships in the package (macmatrix/e2e.py, so `pytest --pyargs macmatrix.e2e` runs it
from a wheel); importing it here collects it under this file, with the same case ids.
"""

from macmatrix.e2e import pytestmark, test_mac_case

__all__ = ["pytestmark", "test_mac_case"]
