"""Seeing the recorder the markers are for: its Lab Streaming Layer stream read live, the
markers it shows matched with the ones the runner wrote, and its signals checked."""
