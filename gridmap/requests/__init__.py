"""Resident requests (诉求): intake, routing to the owning grid, status changes, statistics."""
