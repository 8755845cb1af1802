"""Framework helpers every app may use: domain errors and plain HTTP answers. No models, and
no imports of the project's apps: this is the bottom layer."""
