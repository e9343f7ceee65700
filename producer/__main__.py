"""`python -m producer` is the same CLI as `datagen`."""

from producer.cli import main

raise SystemExit(main())
