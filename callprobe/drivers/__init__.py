"""Backend drivers: each speaks one backend family's signaling behind ``Driver``."""
