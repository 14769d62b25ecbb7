"""The meaning checks of a scenario file, one module per section (pass 3 of ``scenario.loader``)."""
