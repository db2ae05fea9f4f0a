"""The producer API under the name the contract gives it (DESIGN.md section 3)."""

from telebot.ikabot.details import (
    Target,
    cleanup_dead_details,
    delete_process_details,
    get_process_details,
    save_process_details,
)

__all__ = [
    "Target",
    "cleanup_dead_details",
    "delete_process_details",
    "get_process_details",
    "save_process_details",
]
