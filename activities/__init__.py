"""Side effects of the workflows: calendar look-ups, read-model writes, department inboxes."""
