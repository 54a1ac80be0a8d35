"""TWAP paper orders: request validation, persistence and the execution engine."""
