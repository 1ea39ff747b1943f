"""Answer generation: extractive by default; every answer's citations are verified spans."""
