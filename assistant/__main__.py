from assistant.cli.registry import main

raise SystemExit(main())
