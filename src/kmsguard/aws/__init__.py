"""Live AWS: list keys across regions and accounts (boto3), read their policies, grants,
tags and aliases, and judge them with the engine (`scan`); the per-key result (`result`)."""
