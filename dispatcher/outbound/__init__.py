"""Results pushed back to the caller: signed webhook deliveries built from the event stream."""
