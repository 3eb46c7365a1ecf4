"""What a bot carries between runs: checksummed bot-state snapshots and portfolio snapshots."""
