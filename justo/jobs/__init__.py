"""The JustoAI jobs: court-data sync, cache cleanup, reports, documents, notifications."""
