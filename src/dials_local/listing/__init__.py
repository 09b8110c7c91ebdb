"""Shared machinery of the list routes: filters (CONTRACT §6), cursors and pagination
(§5), resource declarations and the SQL they turn into."""
