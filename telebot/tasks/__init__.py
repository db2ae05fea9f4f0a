"""The task model: what a task is (the merge of ikabot's list, its details, its status and
its process), and the figures computed from it (one truth per task)."""
