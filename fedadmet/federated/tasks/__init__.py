"""Federated tasks: the models the runtime federates, each behind the FederatedTask protocol."""
