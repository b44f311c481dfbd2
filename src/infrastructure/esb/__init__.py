"""The ESB: asking logistics to reschedule, reattempt, cancel or re-number a shipment."""
