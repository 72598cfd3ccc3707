"""The live path: LISTEN for committed changes, render per viewer, push down each tab's socket."""
