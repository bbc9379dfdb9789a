"""One module per vendor: its lazy SDK import, client, key variable and error mapping; no adapters."""
