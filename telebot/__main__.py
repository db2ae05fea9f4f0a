from telebot.cli import main

raise SystemExit(main())
