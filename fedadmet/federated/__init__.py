"""Federated training across partners: keyed data preparation, Flower-free training (task.py) and
thin Flower adapters (client_app.py, server_app.py)."""
