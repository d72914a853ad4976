"""backend-engineer: a Slack bot that puts a senior backend engineer (Claude) into a workspace."""
