"""Federated training across partners: keyed data preparation, the Flower runtime (thin apps, a named
strategy, checkpoints, privacy, typed partner failures) that sees a model only through the FederatedTask
protocol (protocol.py), and the molecular task (tasks/molecular.py over the Flower-free task.py)."""
