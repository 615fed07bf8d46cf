"""Building blocks from the notes: activations, losses, conv arithmetic, LRN and recurrent cells."""
