"""The bot's books: settings, accounts with cash movements and balances, instruments,
strategies."""
