"""Modules the Lambda functions share: settings, models, identity, TTL policy, limits, the store."""
