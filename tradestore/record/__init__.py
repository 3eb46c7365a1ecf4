"""The trading record: fills (trades), positions and their replay (ledger), orders, funding
payments, fee rules, ccxt conversion and closed round trips."""
