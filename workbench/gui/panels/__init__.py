"""The workflow panels of the main window, one module each."""
