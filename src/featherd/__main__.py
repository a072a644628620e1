from featherd.cli import main

raise SystemExit(main())
