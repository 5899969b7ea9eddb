"""The supervisor process and what it runs or reads: settings, connection and embedded
Redis, the supervisor with its cron scheduler and reaper, stats and metrics for the console
and CLI, log sinks and handler loading."""
