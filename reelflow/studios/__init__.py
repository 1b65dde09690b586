"""Studio partners: accounts (API keys, sealed webhook secrets) and webhook signatures."""
