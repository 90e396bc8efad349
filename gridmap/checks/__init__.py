"""Checks: geometry repair, hierarchy, id and point checks behind ``gridmap validate``."""
