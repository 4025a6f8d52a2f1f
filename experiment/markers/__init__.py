"""Event markers: one interface, one module per device protocol."""

from experiment.markers.device import MarkerDevice, open_device
from experiment.markers.sender import MarkerSender

__all__ = ["MarkerDevice", "MarkerSender", "open_device"]
