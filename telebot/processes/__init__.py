"""Task processes: whether one is still the task, when it ends, and how."""
