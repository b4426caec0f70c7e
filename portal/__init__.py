"""What the portal's apps share: time formatting, the JSON API's machinery, page cursors.

No models and no app of its own. It imports no app, except `accounts` to learn who calls the API.
"""
