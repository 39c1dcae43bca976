"""Example frameworks shipped with zmesos."""
