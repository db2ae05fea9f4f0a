"""ikabot's side: its data (both layouts), its statuses, its log, and the producer API."""
