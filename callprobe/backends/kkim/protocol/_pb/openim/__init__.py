"""Generated protobuf bindings; never edit by hand."""
