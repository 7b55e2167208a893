"""The slow path: metrics, conversation and insight workers reading the CDC stream."""
