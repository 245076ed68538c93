"""`python -m macmatrix.cli` is `macmatrix`."""

from macmatrix.cli import main

raise SystemExit(main())
