"""One module per Lambda function; each exposes ``app`` and ``handler``."""
