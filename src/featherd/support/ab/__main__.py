"""``python -m featherd.support.ab``: run featherd-ab."""

from featherd.support.ab import main

raise SystemExit(main())
