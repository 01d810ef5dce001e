from rllib_maaal.cli import main

raise SystemExit(main())
