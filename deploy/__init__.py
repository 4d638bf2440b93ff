"""Scale-out variants of the llmfeedback code location (PostgreSQL, Celery, Kubernetes): see README.md."""
