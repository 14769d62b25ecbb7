"""Reporters read a finished run (events, verdicts, figures); none touches the runner."""
