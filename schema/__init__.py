# The numbered migrations ship inside the package as tradestore.schema (see setup.cfg).
