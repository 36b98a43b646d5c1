"""Rooms, participants and their tracks (signal semantics; never sees packets)."""
