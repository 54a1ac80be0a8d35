"""twapclient: the `twap` command line (and, as the server grows, its Python SDK)."""

__version__ = "0.1.0"
