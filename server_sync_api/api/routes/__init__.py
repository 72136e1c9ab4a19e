"""One module per area of the API; each holds thin routes over a service call."""
