"""Authoring: the risk profile, the clause library, selection, rendering and exports."""
