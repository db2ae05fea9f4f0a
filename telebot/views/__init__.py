"""Words and pictures: a task said for the terminal and for Telegram, the /details page,
times in the player's zone."""
