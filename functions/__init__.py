"""One module per Lambda function; each exposes ``routes``, ``app`` and ``handler``."""

# Every function module, for the dev server (which serves them all in one app) and the tests.
# Names only: importing this package must stay free for a Lambda cold start.
MODULES = (
    "health",
    "issue_anonymous_token",
    "list_conversations",
    "get_conversation",
    "put_conversation",
    "update_conversation",
    "delete_conversation",
    "append_message",
    "update_message",
    "delete_message",
    "get_me",
    "set_current_conversation",
    "erase_user",
    "import_conversations",
    "export_conversations",
)
