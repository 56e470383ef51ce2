from livevote.cli import main

raise SystemExit(main())
