"""portico's command line and its local AWS: installed with the project, never shipped in the Lambda layer."""
