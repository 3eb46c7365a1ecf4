"""Built on the TradeRepo facade: the sample stores of 'tradestore demo' and restoring a
backup."""
